//! The shim driven exactly as packetdrill drives it, without packetdrill: through the function
//! pointers `packetdrill_interface_init` fills in, with hand-built IPv4/TCP datagrams.

use std::ffi::CString;
use std::net::Ipv4Addr;

use super::*;
use crate::entry::{EPOLL_DATA_AT, EPOLL_EVENT_LEN};

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const FLAGS: &str =
    "local_ip=192.168.0.1,netmask=255.255.0.0,gateway_ip=192.168.0.1,remote_ip=192.0.2.1,mtu=1500";

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Tests assert that descriptors are closed; another test opening an eventfd in between
/// could reuse the number, so tests that own a shim run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One loaded "object": the filled interface.
struct Pd {
    i: PacketdrillInterface,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Pd {
    fn new(flags: &str) -> Pd {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let c = CString::new(flags).unwrap();
        let mut i = PacketdrillInterface::default();
        // SAFETY: a valid C string and a writable interface struct.
        unsafe { packetdrill_interface_init(c.as_ptr(), &mut i) };
        Pd { i, _serial: serial }
    }

    fn ud(&self) -> Ud {
        self.i.userdata
    }

    fn shim(&self) -> &Shim {
        // SAFETY: userdata is the Box<Shim> init made, alive until `drop` calls free.
        unsafe { &*(self.ud() as *const Shim) }
    }

    /// Call, returning (result, errno).
    fn errno_of(r: i64) -> (i64, i32) {
        (r, if r < 0 { os::errno() } else { 0 })
    }

    fn socket(&self) -> i32 {
        // SAFETY: the pointer init filled, with our userdata.
        unsafe { (self.i.socket.unwrap())(self.ud(), 2, 1, 6) }
    }

    fn listener(&self, port: u16) -> i32 {
        let fd = self.socket();
        assert!(fd >= 0, "socket: errno {}", os::errno());
        let one = 1i32.to_ne_bytes();
        let a = sockaddr(LOCAL, port);
        // SAFETY: valid buffers of the given lengths.
        unsafe {
            assert_eq!(
                (self.i.setsockopt.unwrap())(self.ud(), fd, 1, 2, one.as_ptr(), 4),
                0
            );
            assert_eq!((self.i.bind.unwrap())(self.ud(), fd, a.as_ptr(), 16), 0);
            assert_eq!((self.i.listen.unwrap())(self.ud(), fd, 1), 0);
        }
        fd
    }

    fn send(&self, datagram: &[u8]) {
        // SAFETY: a valid buffer of the given length.
        let r =
            unsafe { (self.i.netdev_send.unwrap())(self.ud(), datagram.as_ptr(), datagram.len()) };
        assert_eq!(r, 0);
    }

    /// The next emitted datagram and its time, or `None` for count 0.
    fn receive(&self) -> Option<(Vec<u8>, i64)> {
        let mut buf = vec![0u8; 65536];
        let mut count = buf.len();
        let mut t: c_longlong = 0;
        // SAFETY: buffer of `count` bytes and valid out-parameters.
        let r = unsafe {
            (self.i.netdev_receive.unwrap())(self.ud(), buf.as_mut_ptr(), &mut count, &mut t)
        };
        assert_eq!(r, 0);
        (count > 0).then(|| {
            buf.truncate(count);
            (buf, t)
        })
    }

    fn now(&self) -> i64 {
        let mut tv = TimeVal { sec: 0, usec: 0 };
        // SAFETY: a writable timeval; tz may be NULL.
        let r = unsafe { (self.i.gettimeofday.unwrap())(self.ud(), &mut tv, std::ptr::null_mut()) };
        assert_eq!(r, 0);
        tv.sec * 1_000_000 + tv.usec
    }

    fn usleep(&self, us: u32) {
        // SAFETY: plain integers.
        assert_eq!(unsafe { (self.i.usleep.unwrap())(self.ud(), us) }, 0);
    }

    fn accept(&self, fd: i32) -> (i32, i32, [u8; 128], u32) {
        let mut addr = [0u8; 128];
        let mut len = 128u32;
        // SAFETY: a 128-byte address buffer with its length.
        let r = unsafe { (self.i.accept.unwrap())(self.ud(), fd, addr.as_mut_ptr(), &mut len) };
        let (r, e) = Self::errno_of(r.into());
        (r as i32, e, addr, len)
    }

    fn write(&self, fd: i32, data: &[u8]) -> (i64, i32) {
        // SAFETY: a valid buffer of the given length.
        let r = unsafe { (self.i.write.unwrap())(self.ud(), fd, data.as_ptr(), data.len()) };
        Self::errno_of(r as i64)
    }

    fn close(&self, fd: i32) -> (i64, i32) {
        // SAFETY: plain integers.
        let r = unsafe { (self.i.close.unwrap())(self.ud(), fd) };
        Self::errno_of(r.into())
    }
}

impl Drop for Pd {
    fn drop(&mut self) {
        // SAFETY: userdata from init, freed once.
        unsafe { (self.i.free.unwrap())(self.i.userdata) };
    }
}

fn sockaddr(ip: Ipv4Addr, port: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..2].copy_from_slice(&2u16.to_ne_bytes());
    b[2..4].copy_from_slice(&port.to_be_bytes());
    b[4..8].copy_from_slice(&ip.octets());
    b
}

/// RFC 1071 sum over `chunks`, folded and complemented.
fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for c in chunks {
        for pair in c.chunks(2) {
            let w = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(w);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 datagram carrying one TCP segment from the peer, checksums correct.
#[allow(clippy::too_many_arguments)]
fn segment(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.push((((20 + opts.len()) / 4) as u8) << 4);
    tcp.push(flags);
    tcp.extend_from_slice(&win.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    tcp.extend_from_slice(opts);
    tcp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&REMOTE.octets());
    pseudo.extend_from_slice(&LOCAL.octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    let c = checksum(&[&pseudo, &tcp]);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    ip.extend_from_slice(&REMOTE.octets());
    ip.extend_from_slice(&LOCAL.octets());
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&tcp);
    ip
}

/// What the tests read from an emitted datagram.
#[derive(Debug)]
struct Seg {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    opts: Vec<u8>,
    payload: Vec<u8>,
}

/// Parse an emitted datagram the way packetdrill checks it: valid IPv4 header checksum, no IP
/// options, exact total length, TCP.
fn parse(d: &[u8]) -> Seg {
    assert_eq!(d[0], 0x45, "IPv4 without options");
    assert_eq!(
        u16::from_be_bytes([d[2], d[3]]) as usize,
        d.len(),
        "IP total length"
    );
    assert_eq!(checksum(&[&d[..20]]), 0, "IPv4 header checksum");
    assert_eq!(d[9], 6, "TCP");
    let t = &d[20..];
    let off = usize::from(t[12] >> 4) * 4;
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&d[12..20]);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(t.len() as u16).to_be_bytes());
    assert_eq!(checksum(&[&pseudo, t]), 0, "TCP checksum");
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Seg {
        src: Ipv4Addr::new(d[12], d[13], d[14], d[15]),
        dst: Ipv4Addr::new(d[16], d[17], d[18], d[19]),
        sport: u16::from_be_bytes([t[0], t[1]]),
        dport: u16::from_be_bytes([t[2], t[3]]),
        seq: be32(&t[4..8]),
        ack: be32(&t[8..12]),
        flags: t[13],
        opts: t[20..off].to_vec(),
        payload: t[off..].to_vec(),
    }
}

/// The peer's SYN options: mss 1000, sackOK, TS val 100 ecr 0, nop, wscale 7 (Linux's SYN
/// layout).
fn syn_opts() -> Vec<u8> {
    let mut o = vec![2, 4, 0x03, 0xe8, 4, 2, 8, 10];
    o.extend_from_slice(&100u32.to_be_bytes());
    o.extend_from_slice(&0u32.to_be_bytes());
    o.extend_from_slice(&[1, 3, 3, 7]);
    o
}

/// `<nop,nop,TS val ecr>`.
fn ts_opts(val: u32, ecr: u32) -> Vec<u8> {
    let mut o = vec![1, 1, 8, 10];
    o.extend_from_slice(&val.to_be_bytes());
    o.extend_from_slice(&ecr.to_be_bytes());
    o
}

fn ts_val(opts: &[u8]) -> u32 {
    let i = opts.iter().position(|&k| k == 8).expect("timestamp option");
    u32::from_be_bytes([opts[i + 2], opts[i + 3], opts[i + 4], opts[i + 5]])
}

#[test]
fn listen_then_syn_gives_a_syn_ack_with_linux_option_layout() {
    let pd = Pd::new(FLAGS);
    let l = pd.listener(8080);
    pd.send(&segment(40000, 8080, 1000, 0, SYN, 32792, &syn_opts(), &[]));
    let (d, t) = pd.receive().expect("a SYN-ACK");
    let s = parse(&d);
    assert_eq!(
        (s.src, s.dst, s.sport, s.dport),
        (LOCAL, REMOTE, 8080, 40000)
    );
    assert_eq!(s.flags, SYN | ACK);
    assert_eq!(s.ack, 1001);
    // mss 1460 (MTU 1500), sackOK, TS val x ecr 100, nop, wscale 8 — Linux's order and
    // Linux's shift for the scripts' 15 MiB tcp_rmem.
    assert_eq!(&s.opts[0..6], &[2, 4, 0x05, 0xb4, 4, 2]);
    assert_eq!(&s.opts[6..8], &[8, 10]);
    assert_eq!(
        &s.opts[12..16],
        &100u32.to_be_bytes(),
        "TS ecr echoes the peer's val"
    );
    assert_eq!(&s.opts[16..20], &[1, 3, 3, 8]);
    assert_eq!(s.opts.len(), 20);
    // Emitted at the virtual time of the netdev_send, on gettimeofday's clock.
    let now = pd.now();
    assert!(t <= now && now - t < 1000, "stamp {t} vs now {now}");
    // The device answered the stack's ARP itself; nothing but IP reached packetdrill.
    let (arp_replies, unknown, _) = pd.shim().lock().link.counters();
    assert!(arp_replies >= 1);
    assert_eq!(unknown, 0);
    assert_eq!(pd.close(l), (0, 0));
}

#[test]
fn sack_flag_off_keeps_rinets_default() {
    let pd = Pd::new(&format!("{FLAGS},sack=0"));
    pd.listener(8080);
    pd.send(&segment(40000, 8080, 1000, 0, SYN, 32792, &syn_opts(), &[]));
    let s = parse(&pd.receive().expect("a SYN-ACK").0);
    assert_eq!(&s.opts[0..8], &[2, 4, 0x05, 0xb4, 1, 1, 8, 10], "no sackOK");
}

/// Handshake on a listener; returns (accepted fd, our ISN, our last TS val).
fn established(pd: &Pd, l: i32) -> (i32, u32, u32) {
    pd.send(&segment(40000, 8080, 1000, 0, SYN, 32792, &syn_opts(), &[]));
    let s = parse(&pd.receive().expect("SYN-ACK").0);
    let tsv = ts_val(&s.opts);
    pd.send(&segment(
        40000,
        8080,
        1001,
        s.seq + 1,
        ACK,
        257,
        &ts_opts(200, tsv),
        &[],
    ));
    let (fd, e, addr, len) = pd.accept(l);
    assert!(fd >= 0, "accept: errno {e}");
    assert_eq!(len, 16);
    assert_eq!(
        &addr[..16],
        &sockaddr(REMOTE, 40000),
        "peer address filled in"
    );
    (fd, s.seq, tsv)
}

#[test]
fn accepted_socket_is_a_real_fd_and_writes_reach_the_wire_then_close_sends_fin() {
    let pd = Pd::new(FLAGS);
    let l = pd.listener(8080);
    let (fd, isn, _) = established(&pd, l);
    assert!(
        os::fd_is_open(fd),
        "a real process descriptor backs the socket"
    );
    // Less than one segment (peer MSS 1000 less 12 bytes of timestamp option).
    assert_eq!(pd.write(fd, &[7u8; 900]), (900, 0));
    let s = parse(&pd.receive().expect("data").0);
    assert_eq!(s.seq, isn + 1);
    assert_eq!(s.flags, ACK | PSH);
    assert_eq!(s.payload, vec![7u8; 900]);
    assert_eq!(pd.close(fd), (0, 0));
    assert!(
        !os::fd_is_open(fd),
        "close through the interface releases the backing fd"
    );
    let s = parse(&pd.receive().expect("FIN").0);
    assert_eq!(s.flags & (FIN | ACK), FIN | ACK);
    assert_eq!(s.seq, isn + 901);
    assert_eq!(pd.close(fd), (-1, libc::EBADF));
}

#[test]
fn unanswered_syn_ack_is_retransmitted_after_the_initial_rto_in_virtual_time() {
    let pd = Pd::new(FLAGS);
    pd.listener(8080);
    pd.send(&segment(40000, 8080, 1000, 0, SYN, 32792, &syn_opts(), &[]));
    let (first, t0) = pd.receive().expect("SYN-ACK");
    let (again, t1) = pd.receive().expect("retransmitted SYN-ACK");
    assert_eq!(parse(&first).seq, parse(&again).seq);
    assert_eq!(parse(&again).flags, SYN | ACK);
    assert_eq!(
        t1 - t0,
        1_000_000,
        "initial RTO of 1 s, fired at its own deadline"
    );
    assert!(pd.now() > t1, "the clock moved on with the timer");
}

#[test]
fn nothing_to_emit_gives_count_zero_instead_of_hanging() {
    let pd = Pd::new(FLAGS);
    pd.listener(8080);
    assert!(pd.receive().is_none());
}

#[test]
fn clock_moves_by_usleep_and_by_one_microsecond_per_read() {
    let pd = Pd::new(FLAGS);
    let a = pd.now();
    let b = pd.now();
    assert_eq!(b - a, 1);
    pd.usleep(250_000);
    let c = pd.now();
    assert_eq!(c - b, 250_001);
}

#[test]
fn errors_come_back_as_minus_one_and_errno() {
    let pd = Pd::new(FLAGS);
    let a = sockaddr(LOCAL, 8080);
    // SAFETY: valid buffers; the fds are deliberately wrong.
    unsafe {
        let r = (pd.i.bind.unwrap())(pd.ud(), 987_654, a.as_ptr(), 16);
        assert_eq!((r, os::errno()), (-1, libc::EBADF));
        // stderr is open but not a socket.
        let r = (pd.i.bind.unwrap())(pd.ud(), 2, a.as_ptr(), 16);
        assert_eq!((r, os::errno()), (-1, libc::ENOTSOCK));
        let r = (pd.i.socket.unwrap())(pd.ud(), 10, 1, 6);
        assert_eq!((r, os::errno()), (-1, libc::EAFNOSUPPORT));
        let mut fds = [0i32; 2];
        let r = (pd.i.pipe.unwrap())(pd.ud(), fds.as_mut_ptr());
        assert_eq!((r, os::errno()), (-1, libc::ENOSYS));
        let r = (pd.i.epoll_create.unwrap())(pd.ud(), 0);
        assert_eq!((r, os::errno()), (-1, libc::EINVAL));
    }
    let fd = pd.socket();
    let (r, _, _, _) = pd.accept(fd);
    assert_eq!(
        (r, os::errno()),
        (-1, libc::EINVAL),
        "accept on a socket that is not listening"
    );
}

#[test]
fn blocking_accept_on_another_thread_sleeps_until_the_handshake_completes() {
    let pd = Pd::new(FLAGS);
    let l = pd.listener(8080);
    let ud = pd.ud() as usize;
    let accept = pd.i.accept.unwrap();
    let t = std::thread::spawn(move || {
        let mut addr = [0u8; 128];
        let mut len = 128u32;
        // SAFETY: the shim outlives the thread (joined below before Pd drops); valid buffers.
        let fd = unsafe { accept(ud as Ud, l, addr.as_mut_ptr(), &mut len) };
        (fd, addr, len)
    });
    // Let the syscall thread reach its wait: nothing it can accept yet.
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(!t.is_finished(), "accept returned before any SYN");
    pd.send(&segment(40000, 8080, 1000, 0, SYN, 32792, &syn_opts(), &[]));
    let s = parse(&pd.receive().expect("SYN-ACK").0);
    pd.usleep(100_000);
    pd.send(&segment(
        40000,
        8080,
        1001,
        s.seq + 1,
        ACK,
        257,
        &ts_opts(200, ts_val(&s.opts)),
        &[],
    ));
    let (fd, addr, len) = t.join().unwrap();
    assert!(fd >= 0);
    assert_eq!((len, &addr[..16]), (16, &sockaddr(REMOTE, 40000)[..]));
}

#[test]
fn teardown_rst_from_packetdrill_is_accepted() {
    let pd = Pd::new(FLAGS);
    let l = pd.listener(8080);
    let (fd, isn, _) = established(&pd, l);
    // packetdrill's teardown: libc close() on our fd, then an RST for the connection.
    os::close_fd(fd);
    pd.send(&segment(40000, 8080, 1001, isn + 1, RST | ACK, 0, &[], &[]));
    // The stack stays usable: a new socket may even reuse the closed fd number.
    let fd2 = pd.socket();
    assert!(fd2 >= 0);
    assert_eq!(pd.close(fd2), (0, 0));
}

#[test]
fn poll_timeout_passes_in_virtual_time_and_reports_readable_data() {
    let pd = Pd::new(FLAGS);
    let l = pd.listener(8080);
    let (fd, isn, tsv) = established(&pd, l);
    let mut p = [PollFd {
        fd,
        events: 0x1,
        revents: 0,
    }];
    let before = pd.now();
    // SAFETY: one valid pollfd.
    let r = unsafe { (pd.i.poll.unwrap())(pd.ud(), p.as_mut_ptr(), 1, 100) };
    assert_eq!((r, p[0].revents), (0, 0), "nothing readable");
    let waited = pd.now() - before;
    assert!(
        (100_000..101_000).contains(&waited),
        "waited {waited} µs of virtual time"
    );
    pd.send(&segment(
        40000,
        8080,
        1001,
        isn + 1,
        ACK | PSH,
        257,
        &ts_opts(300, tsv),
        b"hi",
    ));
    // SAFETY: as above.
    let r = unsafe { (pd.i.poll.unwrap())(pd.ud(), p.as_mut_ptr(), 1, 100) };
    assert_eq!((r, p[0].revents & 0x1), (1, 0x1));
    let mut n = 0i32;
    // SAFETY: FIONREAD writes one int through the pointer.
    let r = unsafe { (pd.i.ioctl.unwrap())(pd.ud(), fd, 0x541b, &mut n as *mut i32 as usize) };
    assert_eq!((r, n), (0, 2));
}

#[test]
fn blocking_read_on_another_thread_wakes_on_injected_data() {
    let pd = Pd::new(FLAGS);
    let l = pd.listener(8080);
    let (fd, isn, tsv) = established(&pd, l);
    let ud = pd.ud() as usize;
    let read = pd.i.read.unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 100];
        // SAFETY: the shim outlives the thread (joined below); a valid buffer.
        let n = unsafe { read(ud as Ud, fd, buf.as_mut_ptr(), buf.len()) };
        buf[..n.max(0) as usize].to_vec()
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(!t.is_finished(), "read returned before any data");
    pd.send(&segment(
        40000,
        8080,
        1001,
        isn + 1,
        ACK | PSH,
        257,
        &ts_opts(300, tsv),
        b"hello",
    ));
    assert_eq!(t.join().unwrap(), b"hello");
}

#[test]
fn a_woken_blocking_read_returns_before_the_main_thread_moves_the_clock() {
    let pd = Pd::new(FLAGS);
    let l = pd.listener(8080);
    let (fd, isn, tsv) = established(&pd, l);
    let ud = pd.ud() as usize;
    let read = pd.i.read.unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 100];
        // SAFETY: the shim outlives the thread (joined below); valid buffers.
        unsafe { read(ud as Ud, fd, buf.as_mut_ptr(), buf.len()) }
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    pd.send(&segment(
        40000,
        8080,
        1001,
        isn + 1,
        ACK | PSH,
        257,
        &ts_opts(300, tsv),
        b"hello",
    ));
    let arrived = pd.now();
    // The first data of the connection is acknowledged at once (quick-ACK): the main thread
    // reads that ACK and sleeps on at once, as packetdrill does.
    assert!(pd.receive().is_some());
    pd.usleep(100_000);
    assert_eq!(t.join().unwrap(), 5);
    // When the read completed, taken by the shim under the lock the read ran in (a time the
    // reader asked for after returning could fall after the main thread's sleep however
    // promptly the read itself ran).
    let returned = pd
        .shim()
        .woken_done_at()
        .expect("the read slept and completed") as i64;
    assert!(
        returned - arrived < 1_000,
        "read returned {} µs after its data arrived",
        returned - arrived
    );
}

/// `epoll_wait(ep, evs, 4, timeout)` → (events, data) pairs.
fn epoll_wait(pd: &Pd, ep: i32, timeout: i32) -> Vec<(u32, u64)> {
    let mut raw = [0u8; 4 * EPOLL_EVENT_LEN];
    // SAFETY: room for 4 events.
    let n = unsafe {
        (pd.i.epoll_wait.unwrap())(pd.ud(), ep, raw.as_mut_ptr() as *mut c_void, 4, timeout)
    };
    assert!(n >= 0, "epoll_wait: errno {}", os::errno());
    raw.chunks(EPOLL_EVENT_LEN)
        .take(n as usize)
        .map(|b| {
            let mut d = [0u8; 8];
            d.copy_from_slice(&b[EPOLL_DATA_AT..]);
            (
                u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                u64::from_ne_bytes(d),
            )
        })
        .collect()
}

#[test]
fn edge_triggered_epoll_reports_new_data_once() {
    let pd = Pd::new(FLAGS);
    let l = pd.listener(8080);
    let (fd, isn, tsv) = established(&pd, l);
    // SAFETY: plain integers.
    let ep = unsafe { (pd.i.epoll_create.unwrap())(pd.ud(), 1) };
    assert!(ep >= 0 && os::fd_is_open(ep));
    let (epollin, epollout, epollet) = (0x1u32, 0x4u32, 1u32 << 31);
    let mut ev = [0u8; EPOLL_EVENT_LEN];
    ev[0..4].copy_from_slice(&(epollin | epollout | epollet).to_ne_bytes());
    ev[EPOLL_DATA_AT..].copy_from_slice(&(fd as u64).to_ne_bytes());
    // SAFETY: one valid epoll_event.
    let r =
        unsafe { (pd.i.epoll_ctl.unwrap())(pd.ud(), ep, 1, fd, ev.as_mut_ptr() as *mut c_void) };
    assert_eq!(r, 0);
    assert_eq!(epoll_wait(&pd, ep, 0), [(epollout, fd as u64)]);
    assert_eq!(epoll_wait(&pd, ep, 0), [], "no new edge");
    pd.send(&segment(
        40000,
        8080,
        1001,
        isn + 1,
        ACK | PSH,
        257,
        &ts_opts(300, tsv),
        &[1; 400],
    ));
    assert_eq!(epoll_wait(&pd, ep, 0), [(epollin | epollout, fd as u64)]);
    assert_eq!(epoll_wait(&pd, ep, 0), []);
    let before = pd.now();
    assert_eq!(epoll_wait(&pd, ep, 50), []);
    assert!(
        pd.now() - before >= 50_000,
        "the timeout passed in virtual time"
    );
    assert_eq!(pd.close(ep), (0, 0));
    assert!(!os::fd_is_open(ep));
}

#[test]
fn a_blocking_call_on_the_main_thread_that_nothing_can_complete_fails_instead_of_hanging() {
    let pd = Pd::new(FLAGS);
    let l = pd.listener(8080);
    let before = pd.now();
    let (r, e, _, _) = pd.accept(l);
    assert_eq!((r, e), (-1, libc::EAGAIN));
    assert!(
        pd.now() - before <= 1_000,
        "no timer to wait for: the clock did not jump"
    );
}

/// recvmsg into `buf` with a 24-byte control buffer → (result, control length, flags, the
/// control bytes).
fn recvmsg_inq(pd: &Pd, fd: i32, buf: &mut [u8]) -> (isize, usize, i32, [u8; 24]) {
    let mut ctl = [0u8; 24];
    let mut iov = IoVec {
        base: buf.as_mut_ptr(),
        len: buf.len(),
    };
    let mut m = MsgHdr {
        name: std::ptr::null_mut(),
        namelen: 0,
        iov: &mut iov,
        iovlen: 1,
        control: ctl.as_mut_ptr().cast(),
        controllen: ctl.len(),
        flags: 0,
    };
    // SAFETY: a valid msghdr whose iovec and control buffer outlive the call.
    let r = unsafe { (pd.i.recvmsg.unwrap())(pd.ud(), fd, &mut m, 0) };
    (r, m.controllen, m.flags, ctl)
}

#[test]
fn tcp_inq_reports_bytes_left_in_a_control_message() {
    let pd = Pd::new(FLAGS);
    let l = pd.listener(8080);
    let (fd, isn, tsv) = established(&pd, l);
    let one = 1i32.to_ne_bytes();
    // SAFETY: a valid 4-byte option value.
    let r = unsafe { (pd.i.setsockopt.unwrap())(pd.ud(), fd, 6, 36, one.as_ptr(), 4) };
    assert_eq!(r, 0);
    pd.send(&segment(
        40000,
        8080,
        1001,
        isn + 1,
        ACK | PSH,
        257,
        &ts_opts(300, tsv),
        b"0123456789",
    ));
    let mut buf = [0u8; 4];
    let (n, clen, flags, ctl) = recvmsg_inq(&pd, fd, &mut buf);
    assert_eq!((n, clen, flags), (4, 24, 0));
    let int = |b: &[u8]| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    assert_eq!(u64::from_ne_bytes(ctl[..8].try_into().unwrap()), 20);
    assert_eq!(
        (int(&ctl[8..]), int(&ctl[12..]), int(&ctl[16..])),
        (6, 36, 6)
    );
    // The peer finishes: once the data is read the hint says 1 (end of stream next).
    pd.send(&segment(
        40000,
        8080,
        1011,
        isn + 1,
        ACK | FIN,
        257,
        &ts_opts(301, tsv),
        &[],
    ));
    let mut buf = [0u8; 16];
    let (n, _, _, ctl) = recvmsg_inq(&pd, fd, &mut buf);
    assert_eq!((n, int(&ctl[16..])), (6, 1));
}
