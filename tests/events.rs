//! The event interfaces seen from Linux programs in the guest, under TCG: `epoll-test`
//! (epoll level/edge/one-shot on pipes, eventfds, TCP over loopback; select; timerfd) passes
//! as init, and `tokio-echo` (tokio's multi-threaded runtime over epoll, eventfd and threads)
//! echoes 200 concurrent host connections byte-exact through user networking's hostfwd.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use rinet::{free_port_base, on_every_machine, Guest, Net, EXIT_SUCCESS};

const TIMEOUT: Duration = Duration::from_secs(240);
/// Connections at once, and bytes each echoes.
const CONNECTIONS: usize = 200;
const BYTES: usize = 8 * 1024;

/// One tokio guest at a time from this file (each holds 200 host connections).
static ONE_GUEST: Mutex<()> = Mutex::new(());

on_every_machine! {
    fn epoll_test_passes(machine) {
        let out = Guest::new(machine)
            .net(Net::User { port_base: free_port_base() })
            .append("init=epoll-test")
            .run(TIMEOUT);
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains("epoll-test: all 11 checks passed");
    }
}

/// Connection `i`'s payload: distinct per connection, so a mixed-up echo shows.
fn payload(i: usize) -> Vec<u8> {
    (0..BYTES).map(|k| (k * 31 + i * 7) as u8).collect()
}

/// Echo `payload(i)` through `port`: `Err` says what went wrong.
fn echo_once(port: u16, i: usize) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect {i}: {e}"))?;
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let data = payload(i);
    let writer = {
        let mut w = s.try_clone().map_err(|e| e.to_string())?;
        let data = data.clone();
        thread::spawn(move || w.write_all(&data))
    };
    let mut back = vec![0u8; BYTES];
    s.read_exact(&mut back)
        .map_err(|e| format!("connection {i}: read: {e}"))?;
    writer
        .join()
        .map_err(|_| format!("connection {i}: writer panicked"))?
        .map_err(|e| format!("connection {i}: write: {e}"))?;
    match back.iter().zip(&data).position(|(a, b)| a != b) {
        Some(at) => Err(format!("connection {i}: byte {at} differs")),
        None => Ok(()),
    }
}

on_every_machine! {
    fn tokio_echo_serves_200_concurrent_connections(machine) {
        let _turn = ONE_GUEST.lock().unwrap_or_else(|p| p.into_inner());
        let base = free_port_base();
        let mut guest = Guest::new(machine)
            .net(Net::User { port_base: base })
            .append("init=tokio-echo -- 7")
            .spawn();
        let ready = guest.wait_for("tokio-echo: listening on 7", TIMEOUT);
        let result = match ready {
            None => Err("tokio-echo printed no ready line".to_string()),
            Some(_) => {
                let port = base + 7;
                let conns: Vec<_> = (0..CONNECTIONS)
                    .map(|i| thread::spawn(move || echo_once(port, i)))
                    .collect();
                let errors: Vec<String> = conns
                    .into_iter()
                    .filter_map(|c| c.join().unwrap_or(Err("a client panicked".into())).err())
                    .collect();
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{} of {CONNECTIONS} connections failed: {}", errors.len(), errors[..errors.len().min(5)].join("; ")))
                }
            }
        };
        let out = guest.kill();
        if let Err(why) = result {
            let lines: Vec<&str> = out.console.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            panic!("{why}\n--- guest console (last {} lines) ---\n{}", tail.len(), tail.join("\n"));
        }
    }
}
