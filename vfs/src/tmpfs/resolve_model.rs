//! A proptest of path resolution against a small model: a string-keyed tree walked component by
//! component with the rules of path_resolution(7). Random paths over a fixed tree (directories,
//! files, relative and absolute symlinks, a loop) must give the same inode or the same errno.

use super::*;
use crate::flags::{O_CREAT, O_NOFOLLOW, O_PATH, O_RDONLY, O_RDWR};
use crate::time::FixedClock;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use proptest::prelude::*;

#[derive(Clone, Copy)]
enum Kind {
    Dir,
    File,
    Link(&'static str),
}

const TREE: &[(&str, Kind)] = &[
    ("", Kind::Dir),
    ("a", Kind::Dir),
    ("a/b", Kind::Dir),
    ("a/b/f", Kind::File),
    ("a/up", Kind::Link("..")),
    ("a/b/rel", Kind::Link("../up/g")),
    ("l", Kind::Link("a/b")),
    ("abs", Kind::Link("/a/")),
    ("g", Kind::File),
    ("loop", Kind::Link("loop")),
    ("dangling", Kind::Link("nowhere")),
];

fn kind(path: &[String]) -> Option<Kind> {
    let key = path.join("/");
    TREE.iter().find(|(p, _)| *p == key).map(|(_, k)| *k)
}

fn model(
    start: &[String],
    path: &str,
    follow: bool,
    links: &mut u32,
) -> Result<Vec<String>, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let mut cur: Vec<String> = if path.starts_with('/') {
        Vec::new()
    } else {
        start.to_vec()
    };
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let trailing = path.len() > 1 && path.ends_with('/');
    for (i, c) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        if !matches!(kind(&cur), Some(Kind::Dir)) {
            return Err(Errno::ENOTDIR);
        }
        match *c {
            "." => {}
            ".." => {
                cur.pop();
            }
            name => {
                let mut next = cur.clone();
                next.push(name.to_string());
                match kind(&next) {
                    None => return Err(Errno::ENOENT),
                    Some(Kind::Link(t)) if !last || follow || trailing => {
                        *links += 1;
                        if *links > 40 {
                            return Err(Errno::ELOOP);
                        }
                        cur = model(&cur, t, true, links)?;
                    }
                    Some(_) => cur = next,
                }
            }
        }
    }
    if trailing && !matches!(kind(&cur), Some(Kind::Dir)) {
        return Err(Errno::ENOTDIR);
    }
    Ok(cur)
}

fn build() -> Tmpfs {
    let t = Tmpfs::new(1 << 20, Arc::new(FixedClock::default())).unwrap();
    for (path, k) in TREE.iter().skip(1) {
        match k {
            Kind::Dir => drop(t.mkdir(t.root(), path.as_bytes(), 0o755).unwrap()),
            Kind::File => drop(
                t.open(t.root(), path.as_bytes(), O_CREAT | O_RDWR, 0o644)
                    .unwrap(),
            ),
            Kind::Link(target) => drop(
                t.symlink(target.as_bytes(), t.root(), path.as_bytes())
                    .unwrap(),
            ),
        }
    }
    t
}

fn path_strategy() -> impl Strategy<Value = String> {
    let comp = prop::sample::select(vec![
        "a", "b", "f", "g", "l", "abs", "up", "rel", "loop", "dangling", ".", "..", "x",
    ]);
    (
        any::<bool>(),
        prop::collection::vec((comp, prop::sample::select(vec!["/", "//"])), 0..7),
        any::<bool>(),
    )
        .prop_map(|(abs, parts, trailing)| {
            let mut s = String::new();
            if abs {
                s.push('/');
            }
            for (i, (c, sep)) in parts.iter().enumerate() {
                if i > 0 {
                    s.push_str(sep);
                }
                s.push_str(c);
            }
            if trailing {
                s.push('/');
            }
            s
        })
}

proptest! {
    #[test]
    fn resolution_matches_the_model(path in path_strategy(), follow in any::<bool>(), from_a in any::<bool>()) {
        let t = build();
        let (start, start_model) = if from_a {
            (t.lookup_dir(t.root(), b"a").unwrap(), alloc::vec![String::from("a")])
        } else {
            (t.root(), Vec::new())
        };
        let expected = model(&start_model, &path, follow, &mut 0).map(|p| {
            let canonical = alloc::format!("/{}", p.join("/"));
            t.stat(t.root(), canonical.as_bytes(), false).unwrap().ino
        });
        let got = t.stat(start, path.as_bytes(), follow).map(|s| s.ino);
        prop_assert_eq!(got, expected, "stat {:?} follow {} from_a {}", path, follow, from_a);
        // open follows final symlinks its own way; it must agree.
        let flags = if follow { O_RDONLY } else { O_PATH | O_NOFOLLOW };
        let opened = t.open(start, path.as_bytes(), flags, 0).and_then(|f| f.stat()).map(|s| s.ino);
        prop_assert_eq!(opened, expected, "open {:?} follow {} from_a {}", path, follow, from_a);
    }
}
