//! The CMOS real-time clock (MC146818, I/O ports 0x70/0x71): read once at boot to give
//! `CLOCK_REALTIME` a real date. QEMU's RTC runs on the host's UTC clock on every machine
//! type (microvm included, `-M microvm,rtc=on` is its default).
//!
//! Owns the two ports; never writes a CMOS register (only selects one to read).

use x86_64::instructions::port::Port;

const SECONDS: u8 = 0x00;
const MINUTES: u8 = 0x02;
const HOURS: u8 = 0x04;
const DAY: u8 = 0x07;
const MONTH: u8 = 0x08;
const YEAR: u8 = 0x09;
const STATUS_A: u8 = 0x0a;
const STATUS_B: u8 = 0x0b;
const CENTURY: u8 = 0x32;

fn read(reg: u8) -> u8 {
    let mut index = Port::<u8>::new(0x70);
    let mut data = Port::<u8>::new(0x71);
    // SAFETY: selecting a CMOS register (NMI-disable bit left clear) and reading it has no
    // effect on anything else; only this module uses these ports.
    unsafe {
        index.write(reg);
        data.read()
    }
}

fn snapshot() -> [u8; 7] {
    [
        read(SECONDS),
        read(MINUTES),
        read(HOURS),
        read(DAY),
        read(MONTH),
        read(YEAR),
        read(CENTURY),
    ]
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the Unix epoch now, from the RTC; None if it reads as nonsense (no RTC).
pub fn unix_time() -> Option<u64> {
    // Read until two snapshots agree outside an update (at most a few tries).
    let mut last = None;
    for _ in 0..8 {
        while read(STATUS_A) & 0x80 != 0 {
            core::hint::spin_loop();
        }
        let s = snapshot();
        if last == Some(s) {
            break;
        }
        last = Some(s);
    }
    let [mut sec, mut min, mut hour, mut day, mut mon, mut year, mut cent] = last?;
    let b = read(STATUS_B);
    let pm = hour & 0x80 != 0;
    hour &= 0x7f;
    if b & 0x04 == 0 {
        let bcd = |v: u8| (v & 0x0f) + (v >> 4) * 10;
        sec = bcd(sec);
        min = bcd(min);
        hour = bcd(hour);
        day = bcd(day);
        mon = bcd(mon);
        year = bcd(year);
        cent = bcd(cent);
    }
    if b & 0x02 == 0 && pm {
        hour = (hour % 12) + 12;
    }
    if !(1..=12).contains(&mon) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let century = if (19..=30).contains(&cent) {
        cent as i64
    } else {
        20
    };
    let y = century * 100 + year as i64;
    let days = days_from_civil(y, mon as i64, day as i64);
    let t = days * 86_400 + hour as i64 * 3600 + min as i64 * 60 + sec as i64;
    u64::try_from(t).ok()
}
