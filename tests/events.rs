//! The event interfaces seen from Linux programs in the guest, under TCG: `epoll-test`
//! (epoll level/edge/one-shot on pipes, eventfds, TCP over loopback; select; timerfd) passes
//! as init, and `tokio-echo` (tokio's multi-threaded runtime over epoll, eventfd and threads)
//! echoes 200 concurrent host connections (all open before the first byte) byte-exact through
//! user networking's hostfwd.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use rinet::services::echo_concurrent;
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
                // All 200 connected before a byte is sent, then each echoes its own payload
                // at once; connects are paced because libslirp listens on a hostfwd port with
                // a backlog of 1 (see `CONNECT_PACE`).
                let echo = SocketAddr::from(([127, 0, 0, 1], base + 7));
                echo_concurrent(echo, CONNECTIONS, BYTES).map(|report| println!("{report}"))
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
