//! Path resolution in tmpfs: from a start directory (the cwd or a dirfd's directory) or the
//! root, through `.`, `..` and symlinks, to an inode or to a parent directory and a last name.
//!
//! Owns Linux's walk rules (path_resolution(7)): a symlink in the middle is always followed, the
//! last one only when asked (or when a trailing slash demands a directory); at most
//! [`MAX_SYMLINK_FOLLOWS`] links per resolution (`ELOOP`); a non-directory in the middle is
//! `ENOTDIR`; a missing name `ENOENT`; `..` of the root is the root, so no path leaves the tree.
//! The walk is iterative: symlink bodies wait on an explicit stack (at most one per link
//! followed), so a chain of 40 links costs no kernel stack depth. It must never change the tree.
//!
//! Every program runs as root: permission bits are stored and reported but no search or write
//! permission is checked (rinet has no users yet).

use alloc::vec::Vec;

use super::node::{try_copy, FsState, ROOT_INO};
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

/// What a walk stops at.
enum Stop {
    /// Before the last component of the path (for calls that create or remove it).
    BeforeLast,
    /// At the inode the whole path names, following a final symlink or not.
    AtInode { follow_last: bool },
}

enum Walked {
    Parent(Parent),
    Inode(u64),
}

/// Text still to walk: the path itself at the bottom, symlink bodies above it.
struct Pending {
    text: Vec<u8>,
    pos: usize,
    trailing_slash: bool,
}

fn to_last(c: Component<'_>) -> Result<Last, Errno> {
    Ok(match c {
        Component::Current => Last::Current,
        Component::Parent => Last::Parent,
        Component::Name(n) => Last::Name(try_copy(n)?),
    })
}

impl FsState {
    fn walk(&self, start: u64, path: &[u8], stop: Stop, links: &mut u32) -> Result<Walked, Errno> {
        path::check_len(path)?;
        let mut cur = if path::is_absolute(path) {
            ROOT_INO
        } else {
            start
        };
        self.node(cur)?.dir()?;
        let mut must_be_dir = path::has_trailing_slash(path);
        let mut stack: Vec<Pending> = Vec::new();
        if !path::at_end(path, 0) {
            stack.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            stack.push(Pending {
                text: try_copy(path)?,
                pos: 0,
                trailing_slash: must_be_dir,
            });
        } else if let Stop::BeforeLast = stop {
            return Ok(Walked::Parent(Parent {
                dir: cur,
                last: Last::Current,
                trailing_slash: must_be_dir,
            }));
        }
        loop {
            let depth = stack.len();
            let Some(top) = stack.last_mut() else {
                break;
            };
            let comp_pos = top.pos;
            if path::next_component(&top.text, &mut top.pos)?.is_none() {
                stack.pop();
                continue;
            }
            // The last component of the whole walk: nothing left here nor in the texts below.
            let is_last = stack.iter().all(|p| path::at_end(&p.text, p.pos));
            let Some(top) = stack.get(depth - 1) else {
                break;
            };
            let mut reparse = comp_pos;
            let Some(comp) = path::next_component(&top.text, &mut reparse)? else {
                continue;
            };
            if is_last {
                must_be_dir |= top.trailing_slash;
                if let Stop::BeforeLast = stop {
                    return Ok(Walked::Parent(Parent {
                        dir: cur,
                        last: to_last(comp)?,
                        trailing_slash: must_be_dir,
                    }));
                }
            }
            let dir = self.node(cur)?.dir()?;
            let child = match comp {
                Component::Current => cur,
                Component::Parent => dir.parent,
                Component::Name(name) => dir.entries.get(name).ok_or(Errno::ENOENT)?.ino,
            };
            let follow = match stop {
                Stop::AtInode { follow_last } => !is_last || follow_last || must_be_dir,
                Stop::BeforeLast => true,
            };
            match self.node(child)?.symlink_target() {
                Some(target) if follow => {
                    *links += 1;
                    if *links > MAX_SYMLINK_FOLLOWS {
                        return Err(Errno::ELOOP);
                    }
                    path::check_len(target)?;
                    if path::is_absolute(target) {
                        cur = ROOT_INO;
                    }
                    if is_last {
                        must_be_dir |= path::has_trailing_slash(target);
                    }
                    if !path::at_end(target, 0) {
                        stack.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                        stack.push(Pending {
                            text: try_copy(target)?,
                            pos: 0,
                            trailing_slash: path::has_trailing_slash(target),
                        });
                    }
                }
                _ => cur = child,
            }
        }
        if must_be_dir && !self.node(cur)?.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(Walked::Inode(cur))
    }

    /// Resolve all but the last component of `path`, starting at `start` (or the root),
    /// counting symlinks followed into `links`.
    pub fn resolve_parent_with(
        &self,
        start: u64,
        path: &[u8],
        links: &mut u32,
    ) -> Result<Parent, Errno> {
        match self.walk(start, path, Stop::BeforeLast, links)? {
            Walked::Parent(p) => Ok(p),
            // A walk that stops before the last component always ends there.
            Walked::Inode(_) => Err(Errno::ENOENT),
        }
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

    /// Resolve `path` from `start` to an inode, following a final symlink if `follow_last`.
    pub fn resolve(&self, start: u64, path: &[u8], follow_last: bool) -> Result<u64, Errno> {
        match self.walk(start, path, Stop::AtInode { follow_last }, &mut 0)? {
            Walked::Inode(ino) => Ok(ino),
            Walked::Parent(_) => Err(Errno::ENOENT),
        }
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
