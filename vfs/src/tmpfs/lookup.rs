//! Path resolution in tmpfs: from a start directory (the cwd or a dirfd's directory) or the
//! root, through `.`, `..` and symlinks, to an inode or to a parent directory and a last name.
//!
//! Owns Linux's walk rules: a symlink in the middle is always followed, the last one only when
//! asked (or when a trailing slash demands a directory); at most [`MAX_SYMLINK_FOLLOWS`] links
//! per resolution (`ELOOP`); a non-directory in the middle is `ENOTDIR`; a missing name `ENOENT`;
//! `..` of the root is the root, so no path leaves the tree. It must never change the tree.
//!
//! Every program runs as root: permission bits are stored and reported but no search or write
//! permission is checked (rinet has no users yet).

use alloc::vec::Vec;

use super::node::FsState;
use crate::errno::Errno;
use crate::path::{self, Component};

/// Symlinks followed in one resolution before `ELOOP` (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINK_FOLLOWS: u32 = 40;

/// The last component of a path, not yet looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Last {
    /// `.`, or a path that is only slashes (`/`).
    Current,
    /// `..`
    Parent,
    Name(Vec<u8>),
}

/// A resolved parent directory and the last component to look up in it.
#[derive(Debug, Clone)]
pub struct Parent {
    pub dir: u64,
    pub last: Last,
    /// The path ended in `/`: the last component must be a directory.
    pub trailing_slash: bool,
}

impl FsState {
    fn count_follow(links: &mut u32) -> Result<(), Errno> {
        *links += 1;
        if *links > MAX_SYMLINK_FOLLOWS {
            return Err(Errno::ELOOP);
        }
        Ok(())
    }

    fn symlink_target_of(&self, ino: u64) -> Result<Option<Vec<u8>>, Errno> {
        match self.node(ino)?.symlink_target() {
            Some(t) => Ok(Some(super::node::try_copy(t)?)),
            None => Ok(None),
        }
    }

    /// Step from directory `dir` through one component, following a symlink there.
    fn step(&self, dir: u64, comp: Component<'_>, links: &mut u32) -> Result<u64, Errno> {
        let d = self.node(dir)?.dir()?;
        let child = match comp {
            Component::Current => return Ok(dir),
            Component::Parent => return Ok(d.parent),
            Component::Name(name) => d.entries.get(name).ok_or(Errno::ENOENT)?.ino,
        };
        match self.symlink_target_of(child)? {
            Some(target) => {
                Self::count_follow(links)?;
                self.resolve_with(dir, &target, true, links)
            }
            None => Ok(child),
        }
    }

    /// Resolve all but the last component of `path`, starting at `start` (or the root).
    pub fn resolve_parent_with(
        &self,
        start: u64,
        path: &[u8],
        links: &mut u32,
    ) -> Result<Parent, Errno> {
        let split = path::split(path)?;
        let mut dir = if split.absolute {
            super::node::ROOT_INO
        } else {
            start
        };
        self.node(dir)?.dir()?;
        let Some((last, middle)) = split.components.split_last() else {
            return Ok(Parent {
                dir,
                last: Last::Current,
                trailing_slash: split.trailing_slash,
            });
        };
        for comp in middle {
            dir = self.step(dir, *comp, links)?;
            self.node(dir)?.dir()?;
        }
        let last = match last {
            Component::Current => Last::Current,
            Component::Parent => Last::Parent,
            Component::Name(n) => Last::Name(super::node::try_copy(n)?),
        };
        Ok(Parent {
            dir,
            last,
            trailing_slash: split.trailing_slash,
        })
    }

    /// The inode the last component names in its parent, without following it.
    pub fn lookup_last(&self, parent: &Parent) -> Result<u64, Errno> {
        let d = self.node(parent.dir)?.dir()?;
        match &parent.last {
            Last::Current => Ok(parent.dir),
            Last::Parent => Ok(d.parent),
            Last::Name(n) => d
                .entries
                .get(n.as_slice())
                .map(|e| e.ino)
                .ok_or(Errno::ENOENT),
        }
    }

    fn resolve_with(
        &self,
        start: u64,
        path: &[u8],
        follow_last: bool,
        links: &mut u32,
    ) -> Result<u64, Errno> {
        let parent = self.resolve_parent_with(start, path, links)?;
        let ino = self.lookup_last(&parent)?;
        let ino = match self.symlink_target_of(ino)? {
            Some(target) if follow_last || parent.trailing_slash => {
                Self::count_follow(links)?;
                self.resolve_with(parent.dir, &target, true, links)?
            }
            _ => ino,
        };
        if parent.trailing_slash && !self.node(ino)?.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(ino)
    }

    /// Resolve `path` from `start` to an inode, following a final symlink if `follow_last`.
    pub fn resolve(&self, start: u64, path: &[u8], follow_last: bool) -> Result<u64, Errno> {
        self.resolve_with(start, path, follow_last, &mut 0)
    }

    /// Resolve the parent directory of `path`'s last component.
    pub fn resolve_parent(&self, start: u64, path: &[u8]) -> Result<Parent, Errno> {
        self.resolve_parent_with(start, path, &mut 0)
    }

    /// Is `ino` `ancestor` or below it? (For `rename`'s "directory into itself".)
    pub fn is_within(&self, ino: u64, ancestor: u64) -> Result<bool, Errno> {
        let mut cur = ino;
        // Depth is bounded by the number of inodes; the root is its own parent.
        for _ in 0..=self.nodes.len() {
            if cur == ancestor {
                return Ok(true);
            }
            let parent = self.node(cur)?.dir()?.parent;
            if parent == cur {
                return Ok(false);
            }
            cur = parent;
        }
        Ok(false)
    }
}
