//! Writing initramfs images for the guest (cpio "newc", the format Linux and rinet unpack):
//! the tests pack files into one and boot it with `-initrd`.

/// One archive member.
pub enum Member<'a> {
    Dir(&'a str),
    File(&'a str, u32, &'a [u8]),
    Symlink(&'a str, &'a str),
}

fn header(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, size: usize) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        1, // nlink
        0, // mtime
        size as u32,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// A newc archive of `members` (paths without a leading `/`), ended by the trailer.
pub fn newc(members: &[Member<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let ino = i as u32 + 1;
        match m {
            Member::Dir(name) => header(&mut out, ino, 0o040755, name, 0),
            Member::File(name, perm, data) => {
                header(&mut out, ino, 0o100000 | perm, name, data.len());
                out.extend_from_slice(data);
                pad4(&mut out);
            }
            Member::Symlink(name, target) => {
                header(&mut out, ino, 0o120777, name, target.len());
                out.extend_from_slice(target.as_bytes());
                pad4(&mut out);
            }
        }
    }
    header(&mut out, 0, 0, "TRAILER!!!", 0);
    out
}
