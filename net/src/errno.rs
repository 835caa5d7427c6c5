//! Linux errno values: what a caller gets back for bad input or a failed operation. The type
//! lives in `uapi`, shared with the file system and the kernel, so a program is answered with
//! one errno type whichever layer failed.

pub use uapi::Errno;
