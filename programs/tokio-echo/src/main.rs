//! `tokio-echo PORT`: a TCP echo server on 0.0.0.0:PORT on tokio's multi-threaded runtime (one
//! task per connection, `io::copy` back to the peer). Prints `tokio-echo: listening on PORT`
//! once it accepts connections; exits 2 on bad arguments, 1 if it cannot listen.

use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: tokio-echo PORT";

async fn echo(mut conn: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    println!("tokio-echo: listening on {port}");
    loop {
        let (conn, _) = listener.accept().await?;
        tokio::spawn(echo(conn));
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = match args.as_slice() {
        [p] => match p.parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio-echo: runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(serve(port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio-echo: {e}");
            ExitCode::from(1)
        }
    }
}
