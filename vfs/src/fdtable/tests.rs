//! Descriptor-table tests: numbering, limits, the dup family, close-on-exec, and a proptest
//! against a simple model of the table.

use super::*;
use crate::file::FileOps;
use crate::flags::{O_APPEND, O_NONBLOCK, O_RDONLY, O_RDWR};
use crate::stat::Stat;
use core::any::Any;
use proptest::prelude::*;

struct Dummy;
impl FileOps for Dummy {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat::default())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn file() -> Arc<OpenFile> {
    OpenFile::new(Arc::new(Dummy), O_RDWR)
}

#[test]
fn lowest_free_descriptor_is_reused() {
    let mut t = FdTable::default();
    for want in 0..5 {
        assert_eq!(t.install(file(), false), Ok(want));
    }
    t.close(1).unwrap();
    t.close(3).unwrap();
    assert_eq!(t.install(file(), false), Ok(1));
    assert_eq!(t.install(file(), false), Ok(3));
    assert_eq!(t.install(file(), false), Ok(5));
}

#[test]
fn bad_descriptors_are_ebadf() {
    let mut t = FdTable::default();
    assert_eq!(t.get(-1).err(), Some(Errno::EBADF));
    assert_eq!(t.get(0).err(), Some(Errno::EBADF));
    assert_eq!(t.close(7).err(), Some(Errno::EBADF));
    assert_eq!(t.dup(i32::MAX).err(), Some(Errno::EBADF));
    let fd = t.install(file(), false).unwrap();
    t.close(fd).unwrap();
    assert_eq!(t.close(fd).err(), Some(Errno::EBADF), "double close");
}

#[test]
fn limit_gives_emfile_and_dup2_past_it_ebadf() {
    let mut t = FdTable::new(4);
    for _ in 0..4 {
        t.install(file(), false).unwrap();
    }
    assert_eq!(t.install(file(), false), Err(Errno::EMFILE));
    assert_eq!(t.dup(0), Err(Errno::EMFILE));
    assert_eq!(t.dup2(0, 4).err(), Some(Errno::EBADF));
    assert_eq!(t.dup2(0, -1).err(), Some(Errno::EBADF));
    assert_eq!(t.dup_from(0, 4, false), Err(Errno::EINVAL));
    assert_eq!(t.dup_from(0, -1, false), Err(Errno::EINVAL));
    t.set_limit(2).unwrap();
    assert_eq!(t.count(), 4, "lowering the limit closes nothing");
    assert_eq!(t.set_limit(MAX_FD_LIMIT + 1), Err(Errno::EPERM));
}

#[test]
fn dup_shares_offset_and_status_flags() {
    let mut t = FdTable::default();
    let a = t
        .install(OpenFile::new(Arc::new(Dummy), O_RDONLY), true)
        .unwrap();
    let b = t.dup(a).unwrap();
    assert_eq!(t.fd_flags(a), Ok(FD_CLOEXEC));
    assert_eq!(t.fd_flags(b), Ok(0), "dup clears FD_CLOEXEC");
    t.set_status_flags(b, O_NONBLOCK | O_APPEND | O_RDWR)
        .unwrap();
    let fl = t.status_flags(a).unwrap();
    assert_ne!(fl & O_NONBLOCK, 0, "status flags are shared");
    assert_ne!(fl & O_APPEND, 0);
    assert_eq!(fl & 3, O_RDONLY, "F_SETFL cannot change the access mode");
    assert!(Arc::ptr_eq(&t.get(a).unwrap(), &t.get(b).unwrap()));
}

#[test]
fn dup2_dup3_rules() {
    let mut t = FdTable::default();
    let a = t.install(file(), false).unwrap();
    let b = t.install(file(), false).unwrap();
    let (fd, old) = t.dup2(a, b).unwrap();
    assert_eq!(fd, b);
    assert!(old.is_some(), "the file b held comes back to be released");
    assert_eq!(t.dup2(a, a).map(|r| r.0), Ok(a));
    assert_eq!(t.dup2(9, 9).err(), Some(Errno::EBADF), "closed oldfd");
    assert_eq!(t.dup3(a, a, 0).err(), Some(Errno::EINVAL));
    assert_eq!(t.dup3(a, 5, 1).err(), Some(Errno::EINVAL));
    let (fd, old) = t.dup3(a, 10, O_CLOEXEC).unwrap();
    assert_eq!((fd, old.is_none()), (10, true));
    assert_eq!(t.fd_flags(10), Ok(FD_CLOEXEC));
    assert_eq!(t.dup_from(a, 7, true), Ok(7));
    assert_eq!(t.dup_from(a, 7, false), Ok(8));
    assert_eq!(t.fd_flags(7), Ok(FD_CLOEXEC));
}

#[test]
fn exec_closes_cloexec_descriptors() {
    let mut t = FdTable::default();
    t.install(file(), false).unwrap();
    t.install(file(), true).unwrap();
    t.install(file(), false).unwrap();
    t.set_fd_flags(2, FD_CLOEXEC).unwrap();
    assert_eq!(t.close_on_exec().len(), 2);
    let open: Vec<i32> = t.open_fds().map(|(fd, _)| fd).collect();
    assert_eq!(open, [0]);
}

#[test]
fn close_range_closes_or_marks() {
    let mut t = FdTable::default();
    for _ in 0..6 {
        t.install(file(), false).unwrap();
    }
    assert_eq!(t.close_range(3, 2, 0).unwrap_err(), Errno::EINVAL);
    assert_eq!(t.close_range(0, 1, 1).unwrap_err(), Errno::EINVAL);
    assert_eq!(t.close_range(1, 2, CLOSE_RANGE_CLOEXEC).unwrap().len(), 0);
    assert_eq!(t.fd_flags(2), Ok(FD_CLOEXEC));
    assert_eq!(t.fd_flags(3), Ok(0));
    assert_eq!(t.close_range(3, u32::MAX, 0).unwrap().len(), 3);
    assert_eq!(t.count(), 3);
    assert_eq!(t.close_range(100, 200, 0).unwrap().len(), 0);
}

#[derive(Debug, Clone)]
enum Op {
    Open,
    Close(i32),
    Dup(i32),
    Dup2(i32, i32),
    DupFrom(i32, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Open),
        (-2i32..20).prop_map(Op::Close),
        (-2i32..20).prop_map(Op::Dup),
        ((-2i32..20), (-2i32..20)).prop_map(|(a, b)| Op::Dup2(a, b)),
        ((-2i32..20), (-2i64..20)).prop_map(|(a, b)| Op::DupFrom(a, b)),
    ]
}

proptest! {
    /// Against a model: a map of descriptor → file identity, lowest free first, limit 12.
    #[test]
    fn table_follows_a_simple_model(ops in proptest::collection::vec(op(), 0..80)) {
        const LIMIT: usize = 12;
        let mut t = FdTable::new(LIMIT);
        let mut model: [Option<usize>; LIMIT] = [None; LIMIT];
        let mut files: Vec<Arc<OpenFile>> = Vec::new();
        let ident = |f: &Arc<OpenFile>, files: &Vec<Arc<OpenFile>>| files.iter().position(|g| Arc::ptr_eq(f, g));
        let valid = |m: &[Option<usize>; LIMIT], fd: i32| usize::try_from(fd).ok().and_then(|i| m.get(i).copied().flatten());
        for op in ops {
            match op {
                Op::Open => {
                    let f = file();
                    let expect = model.iter().position(Option::is_none);
                    let got = t.install(f.clone(), false);
                    match expect {
                        Some(i) => { prop_assert_eq!(got, Ok(i as i32)); files.push(f); model[i] = Some(files.len() - 1); }
                        None => prop_assert_eq!(got, Err(Errno::EMFILE)),
                    }
                }
                Op::Close(fd) => {
                    let got = t.close(fd).map(|f| ident(&f, &files));
                    match valid(&model, fd) {
                        Some(id) => { prop_assert_eq!(got, Ok(Some(id))); model[fd as usize] = None; }
                        None => prop_assert_eq!(got, Err(Errno::EBADF)),
                    }
                }
                Op::Dup(fd) => {
                    let got = t.dup(fd);
                    match (valid(&model, fd), model.iter().position(Option::is_none)) {
                        (None, _) => prop_assert_eq!(got, Err(Errno::EBADF)),
                        (Some(_), None) => prop_assert_eq!(got, Err(Errno::EMFILE)),
                        (Some(id), Some(i)) => { prop_assert_eq!(got, Ok(i as i32)); model[i] = Some(id); }
                    }
                }
                Op::Dup2(a, b) => {
                    let got = t.dup2(a, b).map(|r| r.0);
                    match valid(&model, a) {
                        None => prop_assert_eq!(got, Err(Errno::EBADF)),
                        Some(_) if a == b => prop_assert_eq!(got, Ok(b)),
                        Some(id) => match usize::try_from(b).ok().filter(|&i| i < LIMIT) {
                            None => prop_assert_eq!(got, Err(Errno::EBADF)),
                            Some(i) => { prop_assert_eq!(got, Ok(b)); model[i] = Some(id); }
                        },
                    }
                }
                Op::DupFrom(a, min) => {
                    let got = t.dup_from(a, min, false);
                    match valid(&model, a) {
                        None => prop_assert_eq!(got, Err(Errno::EBADF)),
                        Some(id) => match usize::try_from(min).ok().filter(|&m| m < LIMIT) {
                            None => prop_assert_eq!(got, Err(Errno::EINVAL)),
                            Some(m) => match (m..LIMIT).find(|&i| model[i].is_none()) {
                                None => prop_assert_eq!(got, Err(Errno::EMFILE)),
                                Some(i) => { prop_assert_eq!(got, Ok(i as i32)); model[i] = Some(id); }
                            },
                        },
                    }
                }
            }
            for (i, m) in model.iter().enumerate() {
                let got = t.get(i as i32).ok().and_then(|f| ident(&f, &files));
                prop_assert_eq!(got, *m);
            }
        }
    }
}
