//! The memory routines the compiler calls for every copy, move and fill the kernel makes
//! (`memcpy`, `memmove`, `memset`; `memcmp` stays compiler_builtins'), in place of
//! compiler_builtins' `rep movsq` / `rep stosq` versions.
//!
//! Why our own: the kernel runs under QEMU's TCG, which executes each iteration of a `rep`
//! string instruction as a pass of its own through the translated block, so copying a 32 KiB
//! socket chunk with `rep movsq` costs 4096 block runs and zeroing a fresh 4 KiB page 512.
//! These move 64 bytes per loop iteration with plain 8-byte loads and stores (unaligned
//! access is fine on x86-64), which TCG runs as one block of sixteen memory operations; the
//! tail of fewer than 64 bytes goes 8 bytes, then 1 byte, at a time. On hardware the loops
//! are an ordinary unrolled copy.
//!
//! Owns the three symbols (the linker takes them over compiler_builtins' weak ones) and the
//! forward copy loop `mm::uaccess`'s user-copy routine shares. (Label `1` is avoided: in Intel syntax `1b` reads as a binary number.)

use core::arch::global_asm;

/// The forward copy both `memcpy` and the user-copy routine (`mm::uaccess`) run: `rdx` bytes
/// from `rsi` to `rdi`, 64 per iteration in plain 8-byte moves, then 8 and 1 at a time;
/// clobbers r8-r11 and ends at its label `4` with rdx zero (labels 2 to 5 are its own). Reads
/// each 32-byte half of a block before writing it, so it is safe for dst below src too.
macro_rules! forward_copy_asm {
    () => {
        r#"
    cmp rdx, 64
    jb 2f
5:
    mov r8, [rsi]
    mov r9, [rsi + 8]
    mov r10, [rsi + 16]
    mov r11, [rsi + 24]
    mov [rdi], r8
    mov [rdi + 8], r9
    mov [rdi + 16], r10
    mov [rdi + 24], r11
    mov r8, [rsi + 32]
    mov r9, [rsi + 40]
    mov r10, [rsi + 48]
    mov r11, [rsi + 56]
    mov [rdi + 32], r8
    mov [rdi + 40], r9
    mov [rdi + 48], r10
    mov [rdi + 56], r11
    add rsi, 64
    add rdi, 64
    sub rdx, 64
    cmp rdx, 64
    jae 5b
2:
    cmp rdx, 8
    jb 3f
    mov r8, [rsi]
    mov [rdi], r8
    add rsi, 8
    add rdi, 8
    sub rdx, 8
    jmp 2b
3:
    test rdx, rdx
    jz 4f
    mov r8b, [rsi]
    mov [rdi], r8b
    inc rsi
    inc rdi
    dec rdx
    jmp 3b
4:
"#
    };
}
pub(crate) use forward_copy_asm;

global_asm!(concat!(
    r#"
.section .text.rinet_memory_routines, "ax", @progbits

/* memmove(dst: rdi, src: rsi, n: rdx) -> rax = dst.
   Forward unless dst lies inside [src, src + n): the forward loop reads each 32-byte half of
   a block before it writes it, so it is safe for dst below src too. */
.global memmove
.type memmove, @function
memmove:
    mov rcx, rdi
    sub rcx, rsi
    cmp rcx, rdx
    jb 20f
    /* fall through to memcpy */

/* memcpy(dst: rdi, src: rsi, n: rdx) -> rax = dst. */
.global memcpy
.type memcpy, @function
memcpy:
    mov rax, rdi
"#,
    forward_copy_asm!(),
    r#"
    ret

/* memmove's backward copy (dst above src, overlapping): from the end down, each 32-byte half
   read before it is written, the upper half first. */
20:
    mov rax, rdi
    add rsi, rdx
    add rdi, rdx
21:
    cmp rdx, 64
    jb 22f
    sub rsi, 64
    sub rdi, 64
    sub rdx, 64
    mov r8, [rsi + 32]
    mov r9, [rsi + 40]
    mov r10, [rsi + 48]
    mov r11, [rsi + 56]
    mov [rdi + 32], r8
    mov [rdi + 40], r9
    mov [rdi + 48], r10
    mov [rdi + 56], r11
    mov r8, [rsi]
    mov r9, [rsi + 8]
    mov r10, [rsi + 16]
    mov r11, [rsi + 24]
    mov [rdi], r8
    mov [rdi + 8], r9
    mov [rdi + 16], r10
    mov [rdi + 24], r11
    jmp 21b
22:
    cmp rdx, 8
    jb 23f
    sub rsi, 8
    sub rdi, 8
    sub rdx, 8
    mov r8, [rsi]
    mov [rdi], r8
    jmp 22b
23:
    test rdx, rdx
    jz 24f
    dec rsi
    dec rdi
    dec rdx
    mov r8b, [rsi]
    mov [rdi], r8b
    jmp 23b
24:
    ret
.size memmove, . - memmove
.size memcpy, . - memcpy

/* memset(dst: rdi, c: esi, n: rdx) -> rax = dst: the byte broadcast to all eight bytes of
   a register, stored 64 bytes per iteration. */
.global memset
.type memset, @function
memset:
    mov rax, rdi
    movzx esi, sil
    mov r8, 0x0101010101010101
    imul rsi, r8
    cmp rdx, 64
    jb 2f
5:
    mov [rdi], rsi
    mov [rdi + 8], rsi
    mov [rdi + 16], rsi
    mov [rdi + 24], rsi
    mov [rdi + 32], rsi
    mov [rdi + 40], rsi
    mov [rdi + 48], rsi
    mov [rdi + 56], rsi
    add rdi, 64
    sub rdx, 64
    cmp rdx, 64
    jae 5b
2:
    cmp rdx, 8
    jb 3f
    mov [rdi], rsi
    add rdi, 8
    sub rdx, 8
    jmp 2b
3:
    test rdx, rdx
    jz 4f
    mov [rdi], sil
    inc rdi
    dec rdx
    jmp 3b
4:
    ret
.size memset, . - memset
"#
));
