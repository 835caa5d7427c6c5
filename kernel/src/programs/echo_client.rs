//! `init=echo-client -- HOST PORT [COUNT SIZE]`: the seeds' client.c flow — resolve HOST (a
//! name goes through the DNS resolver), socket, connect, write, read back, compare, close.
//! Exits 0 (QEMU status 33) when every byte came back, 1 with the reason otherwise. Runs in
//! ring 3: only `crate::user` may be called.

use core::net::Ipv4Addr;

use crate::uprintln;
use crate::user::{self, SockaddrIn};

const DEFAULT_COUNT: usize = 10;
const DEFAULT_SIZE: usize = 1000;
/// Bytes written before reading them back: bounded so the echo never waits on a full window.
const CHUNK: usize = 16 * 1024;

/// The byte at offset `i` of round `round`'s payload: varies with both, so a misplaced or
/// stale byte is caught.
fn payload_byte(round: usize, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ round.wrapping_mul(131) ^ (i >> 8)) as u8
}

pub fn main(args: &[&str]) -> i32 {
    match run(args) {
        Ok((count, size)) => {
            uprintln!("echo-client: {count} rounds of {size} bytes echoed intact");
            0
        }
        Err(e) => {
            uprintln!("echo-client: FAIL: {e}");
            1
        }
    }
}

fn errno_text(ret: isize) -> &'static str {
    net::Errno::from_code((-ret) as i32).map_or("unknown errno", net::Errno::name)
}

fn run(args: &[&str]) -> Result<(usize, usize), &'static str> {
    let (Some(host), Some(port)) = (args.first(), args.get(1)) else {
        return Err("usage: echo-client -- HOST PORT [COUNT SIZE]");
    };
    let port: u16 = port
        .parse()
        .map_err(|_| "PORT is not a number from 1 to 65535")?;
    let count: usize = args
        .get(2)
        .map_or(Ok(DEFAULT_COUNT), |c| c.parse())
        .map_err(|_| "COUNT is not a number")?;
    let size: usize = args
        .get(3)
        .map_or(Ok(DEFAULT_SIZE), |s| s.parse())
        .map_err(|_| "SIZE is not a number")?;
    // server = gethostbyname(SERVER_NAME)
    let ip = match host.parse::<Ipv4Addr>() {
        Ok(ip) => ip.octets(),
        Err(_) => {
            let mut out = [0u8; 4];
            let r = user::gethostbyname(host, &mut out);
            if r < 0 {
                uprintln!("echo-client: cannot resolve {host}: {}", errno_text(r));
                return Err("name resolution failed");
            }
            out
        }
    };
    uprintln!(
        "echo-client: {host} is {}.{}.{}.{}",
        ip[0],
        ip[1],
        ip[2],
        ip[3]
    );
    // sockfd = socket(AF_INET, SOCK_STREAM, 0); connect(sockfd, &address, len)
    let fd = user::socket(user::AF_INET, user::SOCK_STREAM, 0);
    if fd < 0 {
        uprintln!("echo-client: socket: {}", errno_text(fd));
        return Err("socket failed");
    }
    let fd = fd as i32;
    let r = user::connect(fd, &SockaddrIn::new(ip, port));
    if r < 0 {
        uprintln!("echo-client: connect: {}", errno_text(r));
        return Err("connect failed");
    }
    let mut out = [0u8; CHUNK];
    let mut back = [0u8; CHUNK];
    for round in 0..count {
        let mut done = 0;
        while done < size {
            let len = CHUNK.min(size - done);
            for (i, b) in out[..len].iter_mut().enumerate() {
                *b = payload_byte(round, done + i);
            }
            if let Err(r) = user::write_all(fd, &out[..len]) {
                uprintln!("echo-client: write: {}", errno_text(r));
                return Err("write failed");
            }
            match user::read_exact(fd, &mut back[..len]) {
                Ok(()) => {}
                Err(0) => return Err("the server closed the connection early"),
                Err(r) => {
                    uprintln!("echo-client: read: {}", errno_text(r));
                    return Err("read failed");
                }
            }
            if let Some(i) = (0..len).find(|&i| back[i] != out[i]) {
                uprintln!("echo-client: round {round} byte {} differs", done + i);
                return Err("echoed bytes differ");
            }
            done += len;
        }
    }
    user::close(fd);
    Ok((count, size))
}
