//! `echo-client HOST PORT [COUNT SIZE]`: the seeds' client flow as a std program — resolve
//! HOST (a dotted quad, /etc/hosts or DNS through the libc's resolver), connect, then COUNT
//! rounds of writing SIZE bytes and reading them back, compared byte for byte. Prints
//! `echo-client: HOST is ADDRESS`, then `echo-client: COUNT rounds of SIZE bytes echoed
//! intact` and exits 0 when every round came back; `echo-client: FAIL: REASON` and status 1
//! otherwise (a failed call is named by its errno: `echo-client: connect: ECONNREFUSED`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;

use progkit::Errno;

const DEFAULT_COUNT: usize = 10;
const DEFAULT_SIZE: usize = 1000;
/// Bytes written before reading them back: bounded so the echo never waits on a full
/// window, and so memory does not grow with SIZE.
const CHUNK: usize = 16 * 1024;
const USAGE: &str = "usage: echo-client HOST PORT [COUNT SIZE]";

/// The byte at offset `i` of round `round`'s payload: varies with both, so a misplaced or
/// stale byte is caught.
fn payload_byte(round: usize, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ round.wrapping_mul(131) ^ (i >> 8)) as u8
}

fn number(arg: Option<&String>, default: usize, what: &str) -> Result<usize, String> {
    arg.map_or(Ok(default), |a| {
        a.parse().map_err(|_| format!("{what} is not a number"))
    })
}

/// `CALL: ERRNO` for a failed call (the errno's name, as the kernel's tests expect it).
fn failed(call: &str, e: &io::Error) -> String {
    let text = match e.raw_os_error().and_then(Errno::from_code) {
        Some(errno) => errno.name().to_string(),
        None => e.to_string(),
    };
    println!("echo-client: {call}: {text}");
    format!("{call} failed")
}

fn run(args: &[String]) -> Result<(usize, usize), String> {
    let (Some(host), Some(port)) = (args.first(), args.get(1)) else {
        return Err(USAGE.into());
    };
    let port: u16 = port
        .parse()
        .map_err(|_| "PORT is not a number from 1 to 65535".to_string())?;
    let count = number(args.get(2), DEFAULT_COUNT, "COUNT")?;
    let size = number(args.get(3), DEFAULT_SIZE, "SIZE")?;
    // server = gethostbyname(SERVER_NAME)
    let addr: SocketAddr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| {
            println!("echo-client: cannot resolve {host}: {e}");
            "name resolution failed".to_string()
        })?
        .find(SocketAddr::is_ipv4)
        .ok_or(format!("cannot resolve {host}: no IPv4 address"))?;
    println!("echo-client: {host} is {}", addr.ip());
    // sockfd = socket(AF_INET, SOCK_STREAM, 0); connect(sockfd, &address, len)
    let mut s = TcpStream::connect(addr).map_err(|e| failed("connect", &e))?;
    let mut out = vec![0u8; CHUNK];
    let mut back = vec![0u8; CHUNK];
    for round in 0..count {
        let mut done = 0;
        while done < size {
            let len = CHUNK.min(size - done);
            for (i, b) in out[..len].iter_mut().enumerate() {
                *b = payload_byte(round, done + i);
            }
            s.write_all(&out[..len]).map_err(|e| failed("write", &e))?;
            match s.read_exact(&mut back[..len]) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err("the server closed the connection early".into())
                }
                Err(e) => return Err(failed("read", &e)),
            }
            if let Some(i) = (0..len).find(|&i| back[i] != out[i]) {
                return Err(format!("round {round} byte {} differs", done + i));
            }
            done += len;
        }
    }
    Ok((count, size))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok((count, size)) => {
            println!("echo-client: {count} rounds of {size} bytes echoed intact");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("echo-client: FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
