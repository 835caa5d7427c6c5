//! The socket layer seen from ring-3 programs in the guest, under TCG: the in-guest selftest
//! (loopback and over the NIC), the socket-test, the seeds' echo client against a host server,
//! and two guests joined by a socket netdev.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use rinet::{on_every_machine, Guest, Net, EXIT_FAILURE, EXIT_SUCCESS};

const TIMEOUT: Duration = Duration::from_secs(240);

/// A TCP echo server on the host's 127.0.0.1 (the guest reaches it as 10.0.2.2 through user
/// networking); serves connections until the test process ends.
fn host_echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the host echo server");
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

fn user_net() -> Net {
    Net::User {
        port_base: rinet::free_port_base(),
    }
}

on_every_machine! {
    fn selftest_passes_over_loopback_and_the_nic(machine) {
        let port = host_echo_server();
        let out = Guest::new(machine)
            .net(user_net())
            .append(&format!("init=selftest -- 10.0.2.2 {port}"))
            .run(TIMEOUT);
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains("selftest: tcp echo over the NIC ok");
        out.assert_console_contains("selftest: all checks passed");
    }
}

on_every_machine! {
    /// Without a host peer: loopback checks only.
    fn selftest_passes_without_a_host_peer(machine) {
        let out = Guest::new(machine)
            .net(user_net())
            .append("init=selftest")
            .run(TIMEOUT);
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains("selftest: all checks passed");
    }
}

on_every_machine! {
    fn socket_test_passes(machine) {
        // 32 MiB: socket-test's 96 unread loopback connections could take 72 MiB of socket
        // buffers; TCP's host-wide memory limit must hold them to a quarter of free RAM.
        let out = Guest::new(machine)
            .net(user_net())
            .memory("32M")
            .append("init=socket-test")
            .run(TIMEOUT);
        out.assert_exit(EXIT_SUCCESS);
    }
}

on_every_machine! {
    fn echo_client_against_a_host_server(machine) {
        let port = host_echo_server();
        let out = Guest::new(machine)
            .net(user_net())
            .append(&format!("init=echo-client -- 10.0.2.2 {port} 20 5000"))
            .run(TIMEOUT);
        out.assert_exit(EXIT_SUCCESS);
        out.assert_console_contains("echo-client: 20 rounds of 5000 bytes echoed intact");
    }
}

on_every_machine! {
    fn echo_client_reports_a_refused_connection(machine) {
        // A port nothing listens on: the host refuses, user networking resets the guest's SYN.
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let out = Guest::new(machine)
            .net(user_net())
            .append(&format!("init=echo-client -- 10.0.2.2 {closed} 1 10"))
            .run(TIMEOUT);
        out.assert_exit(EXIT_FAILURE);
        out.assert_console_contains("echo-client: connect: ECONNREFUSED");
    }
}

on_every_machine! {
    fn echo_client_rejects_bad_arguments(machine) {
        let out = Guest::new(machine)
            .append("init=echo-client -- 10.0.2.2 notaport")
            .run(TIMEOUT);
        out.assert_exit(EXIT_FAILURE);
        out.assert_console_contains("PORT is not a number");
    }
}

on_every_machine! {
    fn guest_to_guest_over_a_stream_netdev(machine) {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let addr = format!("127.0.0.1:{port}");
        let mut server = Guest::new(machine)
            .net(Net::StreamListen(addr.clone()))
            .mac("52:54:00:00:50:01")
            .append("init=services ip=192.168.50.1:::255.255.255.0::eth0:off -- -v")
            .spawn();
        // QEMU creates its listening netdev before the guest runs: once the guest's services are up,
        // the client's QEMU can connect.
        assert!(
            server
                .wait_for("services: echo, discard and chargen", TIMEOUT)
                .is_some(),
            "server guest did not start:\n{}",
            server.console_text()
        );
        let client = Guest::new(machine)
            .net(Net::StreamConnect(addr))
            .mac("52:54:00:00:50:02")
            .append(
                "init=echo-client ip=192.168.50.2:::255.255.255.0::eth0:off -- 192.168.50.1 7 10 2000",
            )
            .run(TIMEOUT);
        let server_out = server.kill();
        client.assert_exit(EXIT_SUCCESS);
        client.assert_console_contains("echo-client: 10 rounds of 2000 bytes echoed intact");
        assert!(
            server_out
                .console
                .contains("services: tcp/7 connection from 192.168.50.2"),
            "server console:\n{}",
            server_out.console
        );
    }
}
