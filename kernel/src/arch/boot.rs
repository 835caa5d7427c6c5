//! PVH entry: the 32-bit code QEMU jumps to (`XEN_ELFNOTE_PHYS32_ENTRY`), which builds the boot
//! page tables, enters long mode and calls `kmain(start_info_paddr)`.
//!
//! Owns: the PVH ELF note, the boot GDT, the boot page tables and the boot stack. The tables map
//! the first 4 GiB of physical memory with 2 MiB pages (3–4 GiB cache-disabled for MMIO), one
//! PDPT and four page directories reached from two PML4 entries:
//!
//! | PML4 entry | virtual range | what |
//! |---|---|---|
//! | 0 | 0 – 4 GiB | identity alias: only needed to run the image (linked at its physical address, 1 MiB) until `mm::paging::init` keeps just the image's 2 MiB pages of it |
//! | 256 | `PHYS_OFFSET` (`0xffff_8000_0000_0000`) + 0 – 4 GiB | the direct map: how the kernel reaches every physical address (`mem::phys_to_virt`), supervisor-only at the top level |
//!
//! Both entries point at the same PDPT, so a rights change in the page directories or tables
//! (`mm::paging`) applies to both aliases. It must never touch anything but those: no Rust runs
//! until the stack and long mode are set up.
//!
//! Entry state (PVH spec): 32-bit protected mode, paging off, flat segments, %ebx holds the
//! physical address of `hvm_start_info`.

/// Size of the boot stack, which stays the kernel's stack for its whole life: the virtio
/// probe path of an unoptimised build was measured at ~116 KiB deep. No larger: every page of
/// it is a page a guest of 8 MiB cannot give its programs.
pub const BOOT_STACK_SIZE: usize = 128 * 1024;

core::arch::global_asm!(
    r#"
/* ---- PVH ELF note: type 18, name "Xen", 64-bit entry address (QEMU reads 8 bytes). ---- */
.section .note.rinet.pvh, "a", @note
.p2align 2
.long 4
.long 8
.long 18
.asciz "Xen"
.p2align 2
.quad pvh_start32
.p2align 2

/* ---- 32-bit entry ---- */
.section .text.boot, "ax", @progbits
.code32
.global pvh_start32
pvh_start32:
    cli
    cld
    movl %ebx, %esi                 /* start_info paddr, kept in %esi until kmain */

    /* Zero .bss (it holds the page tables and the stack): 64 bytes per iteration in plain
       stores, then the tail with rep stosb. (QEMU's TCG runs every iteration of a rep
       instruction on its own: a byte-wise rep over the 260 KiB .bss was half the boot's
       translated-block runs.) */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
7:
    cmpl $64, %ecx
    jb 8f
    movl %eax, 0(%edi)
    movl %eax, 4(%edi)
    movl %eax, 8(%edi)
    movl %eax, 12(%edi)
    movl %eax, 16(%edi)
    movl %eax, 20(%edi)
    movl %eax, 24(%edi)
    movl %eax, 28(%edi)
    movl %eax, 32(%edi)
    movl %eax, 36(%edi)
    movl %eax, 40(%edi)
    movl %eax, 44(%edi)
    movl %eax, 48(%edi)
    movl %eax, 52(%edi)
    movl %eax, 56(%edi)
    movl %eax, 60(%edi)
    addl $64, %edi
    subl $64, %ecx
    jmp 7b
8:
    rep stosb

    /* 2048 PD entries of 2 MiB = 4 GiB, in four consecutive page directories. */
    movl $boot_pd, %edi
    xorl %ecx, %ecx
1:
    movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax                 /* present | writable | 2 MiB page */
    cmpl $1536, %ecx
    jb 2f
    orl $0x18, %eax                 /* 3-4 GiB: PWT | PCD (MMIO: LAPIC, IO-APIC, PCI BARs) */
2:
    movl %eax, (%edi,%ecx,8)
    incl %ecx
    cmpl $2048, %ecx
    jb 1b

    /* PDPT entries 0..3 point at the four page directories. */
    movl $boot_pdpt, %edi
    movl $boot_pd, %eax
    orl $0x7, %eax                  /* present | writable | user (leaves decide) */
    movl %eax, 0(%edi)
    addl $4096, %eax
    movl %eax, 8(%edi)
    addl $4096, %eax
    movl %eax, 16(%edi)
    addl $4096, %eax
    movl %eax, 24(%edi)

    movl $boot_pdpt, %eax
    orl $0x7, %eax
    movl %eax, boot_pml4            /* entry 0: identity (user bit: the leaves decide) */
    andl $~0x4, %eax
    movl %eax, boot_pml4 + {direct_map_entry} * 8  /* entry 256: the direct map, supervisor-only */

    movl $boot_pml4, %eax
    movl %eax, %cr3

    movl %cr4, %eax
    orl $0x20, %eax                 /* CR4.PAE */
    movl %eax, %cr4

    movl $0xC0000080, %ecx          /* IA32_EFER */
    rdmsr
    orl $0x100, %eax                /* LME */
    wrmsr

    movl %cr0, %eax
    orl $0x80000001, %eax           /* PG | PE */
    movl %eax, %cr0

    lgdt boot_gdt_ptr
    ljmp $0x08, $pvh_start64

/* ---- 64-bit ---- */
.code64
pvh_start64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    movl %esi, %edi                 /* zero-extends: kmain(start_info_paddr: u64) */
    call {kmain}
3:
    cli
    hlt
    jmp 3b

/* ---- Boot GDT: null, 64-bit code (0x08), data (0x10). arch::gdt replaces it. ---- */
.section .rodata.boot_gdt, "a", @progbits
.p2align 3
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt

/* ---- Page tables and stack (zeroed above). ---- */
.section .bss.boot, "aw", @nobits
.p2align 12
.global boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
/* Unmapped by arch::paging::install_stack_guard: an overflow faults instead of overwriting the
   page tables above. */
.global boot_stack_guard
boot_stack_guard:
    .skip 4096
.global boot_stack_bottom
boot_stack_bottom:
    .skip {stack_size}
.global boot_stack_top
boot_stack_top:
"#,
    kmain = sym crate::kmain,
    stack_size = const BOOT_STACK_SIZE,
    direct_map_entry = const (crate::mem::PHYS_OFFSET >> 39) & 511,
    options(att_syntax)
);
