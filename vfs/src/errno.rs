//! Linux errno values: the type lives in `uapi`, shared with the network stack and the kernel,
//! so a program is answered with one errno type whichever layer failed.

pub use uapi::Errno;
