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

/// Check a whole path's length: empty is `ENOENT`, 4096 bytes or more `ENAMETOOLONG`.
pub fn check_len(path: &[u8]) -> Result<(), Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

/// Does the path start at the root?
pub fn is_absolute(path: &[u8]) -> bool {
    path.first() == Some(&b'/')
}

/// Does the path end in a slash after some component (which demands a directory)?
pub fn has_trailing_slash(path: &[u8]) -> bool {
    path.len() > 1 && path.last() == Some(&b'/')
}

/// Only slashes are left from `pos` on.
pub fn at_end(path: &[u8], pos: usize) -> bool {
    path.get(pos..)
        .is_none_or(|rest| rest.iter().all(|&b| b == b'/'))
}

/// The component at or after `*pos` (skipping slashes), moving `*pos` past it; `None` when
/// only slashes are left. A component over 255 bytes is `ENAMETOOLONG`.
pub fn next_component<'a>(path: &'a [u8], pos: &mut usize) -> Result<Option<Component<'a>>, Errno> {
    let rest = path.get(*pos..).unwrap_or_default();
    let Some(start) = rest.iter().position(|&b| b != b'/') else {
        *pos = path.len();
        return Ok(None);
    };
    let rest = &rest[start..];
    let len = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let part = &rest[..len];
    *pos += start + len;
    if part.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(Some(match part {
        b"." => Component::Current,
        b".." => Component::Parent,
        name => Component::Name(name),
    }))
}

/// Split `path` at once, checking Linux's limits (empty is `ENOENT`; 4096 bytes or more, or a
/// component over 255 bytes, is `ENAMETOOLONG`). Resolution walks lazily with
/// [`next_component`] instead; this is for callers that want the whole list.
pub fn split(path: &[u8]) -> Result<SplitPath<'_>, Errno> {
    check_len(path)?;
    let mut components = Vec::new();
    let mut pos = 0;
    while let Some(c) = next_component(path, &mut pos)? {
        components.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        components.push(c);
    }
    Ok(SplitPath {
        absolute: is_absolute(path),
        components,
        trailing_slash: has_trailing_slash(path),
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
