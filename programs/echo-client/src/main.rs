//! `echo-client HOST PORT [COUNT SIZE]`: the seeds' client flow as a std program — resolve
//! HOST (a dotted quad, /etc/hosts or DNS through the libc's resolver), connect, then COUNT
//! rounds of writing SIZE bytes and reading them back, compared byte for byte. Exit status 0
//! when every round came back intact.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;

const DEFAULT_COUNT: usize = 10;
const DEFAULT_SIZE: usize = 1000;
/// Largest SIZE accepted (one round is held in memory twice).
const MAX_SIZE: usize = 64 << 20;
const USAGE: &str = "usage: echo-client HOST PORT [COUNT SIZE]";

fn number(arg: Option<&String>, default: usize, what: &str) -> Result<usize, String> {
    arg.map_or(Ok(default), |a| {
        a.parse().map_err(|_| format!("{what} is not a number"))
    })
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
    if size > MAX_SIZE {
        return Err(format!("SIZE is above {MAX_SIZE}"));
    }
    // server = gethostbyname(SERVER_NAME)
    let addr: SocketAddr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .find(SocketAddr::is_ipv4)
        .ok_or(format!("cannot resolve {host}: no IPv4 address"))?;
    println!("echo-client: {host} is {}", addr.ip());
    // sockfd = socket(AF_INET, SOCK_STREAM, 0); connect(sockfd, &address, len)
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let mut back = vec![0u8; size];
    for round in 0..count {
        let data: Vec<u8> = (0..size)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(round as u8))
            .collect();
        s.write_all(&data).map_err(|e| format!("write: {e}"))?;
        s.read_exact(&mut back).map_err(|e| format!("read: {e}"))?;
        if let Some(i) = data.iter().zip(&back).position(|(a, b)| a != b) {
            return Err(format!("round {round} byte {i} differs"));
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
