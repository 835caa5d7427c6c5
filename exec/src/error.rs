//! Why an exec was refused, and the errno Linux's `execve` answers for it.

use core::fmt;

/// Why a file cannot be executed, or its arguments cannot be laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecError {
    /// Not an ELF file, or one Linux would not run here (`ENOEXEC`): wrong magic, class,
    /// byte order, machine or type, or malformed program headers.
    NotExecutable(&'static str),
    /// The arguments and environment exceed the limits (`E2BIG`).
    TooBig,
    /// The program interpreter path is malformed or too long (`ENOEXEC` on Linux for a
    /// missing NUL; `ENAMETOOLONG` for an over-long path).
    BadInterpreter(&'static str),
}

impl ExecError {
    /// The errno `execve` returns (Linux x86-64 numbering).
    pub fn errno(self) -> i32 {
        match self {
            ExecError::NotExecutable(_) => 8,  // ENOEXEC
            ExecError::TooBig => 7,            // E2BIG
            ExecError::BadInterpreter(_) => 8, // ENOEXEC
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::NotExecutable(why) => write!(f, "not an executable: {why}"),
            ExecError::TooBig => f.write_str("arguments and environment too large"),
            ExecError::BadInterpreter(why) => write!(f, "bad program interpreter: {why}"),
        }
    }
}
