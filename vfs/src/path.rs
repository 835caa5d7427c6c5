//! Path syntax: splitting a path into components and the length limits Linux enforces.
//!
//! Owns only the text rules (`/` separators, repeated slashes, a trailing slash, `.` and `..`,
//! `NAME_MAX` and `PATH_MAX`); it must never look anything up: resolution against a tree lives
//! in the file system that owns the tree (`tmpfs::lookup`).

use alloc::vec::Vec;

use crate::errno::Errno;

/// Longest component (Linux's `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Longest path including its terminating NUL (Linux's `PATH_MAX`): a path of 4096 bytes or
/// more is `ENAMETOOLONG`.
pub const PATH_MAX: usize = 4096;

/// One component of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component<'a> {
    /// `.`
    Current,
    /// `..`
    Parent,
    /// Any other name (never empty, never containing `/`).
    Name(&'a [u8]),
}

/// A path split once at the edge: whether it starts at the root, its components, and whether it
/// ends in a slash (which demands a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPath<'a> {
    pub absolute: bool,
    pub components: Vec<Component<'a>>,
    pub trailing_slash: bool,
}

/// Split `path`, checking Linux's limits: empty is `ENOENT`, 4096 bytes or more, or a component
/// over 255 bytes, is `ENAMETOOLONG`. The component list is bounded by the path length.
pub fn split(path: &[u8]) -> Result<SplitPath<'_>, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut components = Vec::new();
    for part in path.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
        if part.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        components.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        components.push(match part {
            b"." => Component::Current,
            b".." => Component::Parent,
            name => Component::Name(name),
        });
    }
    Ok(SplitPath {
        absolute: path.first() == Some(&b'/'),
        components,
        trailing_slash: path.len() > 1 && path.last() == Some(&b'/'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn splits_like_linux() {
        let p = split(b"//a///b/./../c/").unwrap();
        assert!(p.absolute && p.trailing_slash);
        assert_eq!(
            p.components,
            vec![
                Component::Name(b"a"),
                Component::Name(b"b"),
                Component::Current,
                Component::Parent,
                Component::Name(b"c")
            ]
        );
        let p = split(b"x").unwrap();
        assert!(!p.absolute && !p.trailing_slash);
        let p = split(b"/").unwrap();
        assert!(p.absolute && p.components.is_empty() && !p.trailing_slash);
    }

    #[test]
    fn limits() {
        assert_eq!(split(b"").unwrap_err(), Errno::ENOENT);
        assert_eq!(split(&[b'a'; 256]).unwrap_err(), Errno::ENAMETOOLONG);
        assert!(split(&[b'a'; 255]).is_ok());
        let mut long = Vec::new();
        while long.len() < PATH_MAX {
            long.extend_from_slice(b"a/");
        }
        assert_eq!(split(&long).unwrap_err(), Errno::ENAMETOOLONG);
        assert!(split(&long[..PATH_MAX - 1]).is_ok());
    }
}
