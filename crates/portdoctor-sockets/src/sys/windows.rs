//! Windows: the IP Helper tables (`GetExtendedTcpTable` / `GetExtendedUdpTable`, owner-pid
//! classes) for the sockets, `OpenProcess` + `QueryFullProcessImageNameW` for the names.
//!
//! Only the calls live here; decoding the table buffers and building [`Socket`]s is in
//! [`crate::convert_windows`], which is unit-tested on every OS.

use crate::SocketsError;
use crate::convert_windows::{self as conv, OwnerLookup};
use crate::model::{Family, Snapshot, SnapshotOptions, Socket, Source};
use std::collections::HashMap;
use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ACCESS_DENIED, ERROR_INSUFFICIENT_BUFFER, GetLastError, HANDLE, NO_ERROR,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, GetExtendedUdpTable, MIB_TCP6ROW_OWNER_PID, MIB_TCPROW_OWNER_PID,
    MIB_UDP6ROW_OWNER_PID, MIB_UDPROW_OWNER_PID, TCP_TABLE_OWNER_PID_ALL, UDP_TABLE_OWNER_PID,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6};
use windows_sys::Win32::System::Threading::{
    OpenProcess, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION, QueryFullProcessImageNameW,
};

// The decoder's row sizes must match the SDK's structs.
const _: () = assert!(size_of::<MIB_TCPROW_OWNER_PID>() == conv::TCP4_ROW_LEN);
const _: () = assert!(size_of::<MIB_TCP6ROW_OWNER_PID>() == conv::TCP6_ROW_LEN);
const _: () = assert!(size_of::<MIB_UDPROW_OWNER_PID>() == conv::UDP4_ROW_LEN);
const _: () = assert!(size_of::<MIB_UDP6ROW_OWNER_PID>() == conv::UDP6_ROW_LEN);

/// How often to retry when the table grows between the size query and the read.
const TABLE_ATTEMPTS: usize = 8;

pub(crate) fn snapshot(opts: &SnapshotOptions) -> Result<Snapshot, SocketsError> {
    let mut owners = OwnerCache::new(opts.owners);
    let mut sockets = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        if opts.tcp {
            read_tcp(family, &mut owners, &mut sockets)?;
        }
        if opts.udp {
            read_udp(family, &mut owners, &mut sockets)?;
        }
    }
    let mut notes = Vec::new();
    if owners.denied > 0 {
        notes.push(format!(
            "{} process(es) could not be opened; their sockets are listed without owners (run from an elevated prompt to see them)",
            owners.denied
        ));
    }
    Ok(Snapshot {
        source: Source::IpHelper,
        notes,
        sockets,
    })
}

fn read_tcp(
    family: Family,
    owners: &mut OwnerCache,
    out: &mut Vec<Socket>,
) -> Result<(), SocketsError> {
    let af = address_family(family);
    let buf = read_table("GetExtendedTcpTable", |b, n| tcp_table_call(b, n, af))?;
    let rows = conv::parse_tcp_table(&buf, family).map_err(invalid_table)?;
    out.extend(
        rows.iter()
            .map(|r| conv::tcp_socket(r, &owners.lookup(r.pid))),
    );
    Ok(())
}

fn read_udp(
    family: Family,
    owners: &mut OwnerCache,
    out: &mut Vec<Socket>,
) -> Result<(), SocketsError> {
    let af = address_family(family);
    let buf = read_table("GetExtendedUdpTable", |b, n| udp_table_call(b, n, af))?;
    let rows = conv::parse_udp_table(&buf, family).map_err(invalid_table)?;
    out.extend(
        rows.iter()
            .map(|r| conv::udp_socket(r, &owners.lookup(r.pid))),
    );
    Ok(())
}

fn address_family(family: Family) -> u32 {
    u32::from(match family {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    })
}

fn invalid_table(e: conv::TableError) -> SocketsError {
    SocketsError::Os {
        call: "IP Helper table",
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    }
}

/// Calls `call(buffer, size)` until the table fits, growing the buffer on
/// `ERROR_INSUFFICIENT_BUFFER`; returns the table's bytes.
fn read_table(
    name: &'static str,
    mut call: impl FnMut(&mut [u32], &mut u32) -> u32,
) -> Result<Vec<u8>, SocketsError> {
    // u32 words keep the buffer DWORD-aligned, as the rows require.
    let mut words = vec![0u32; 4096];
    for _ in 0..TABLE_ATTEMPTS {
        let mut size = u32::try_from(words.len() * 4).unwrap_or(u32::MAX);
        match call(&mut words, &mut size) {
            NO_ERROR => {
                let len = (size as usize).min(words.len() * 4);
                return Ok(words
                    .iter()
                    .flat_map(|w| w.to_ne_bytes())
                    .take(len)
                    .collect());
            }
            // The table may grow before the next call: leave some room.
            ERROR_INSUFFICIENT_BUFFER => words.resize((size as usize).div_ceil(4) + 1024, 0),
            code => return Err(os_error(name, code)),
        }
    }
    Err(os_error(name, ERROR_INSUFFICIENT_BUFFER))
}

fn os_error(call: &'static str, code: u32) -> SocketsError {
    SocketsError::Os {
        call,
        source: std::io::Error::from_raw_os_error(code as i32),
    }
}

/// `GetExtendedTcpTable(buf, size, FALSE, af, TCP_TABLE_OWNER_PID_ALL, 0)`.
#[allow(unsafe_code)]
fn tcp_table_call(buf: &mut [u32], size: &mut u32, af: u32) -> u32 {
    debug_assert!(*size as usize <= buf.len() * 4);
    // SAFETY: `buf` is a live, writable, DWORD-aligned allocation of at least `*size`
    // bytes, and `size` a valid in/out pointer; the call writes at most `*size` bytes and
    // stores the needed size in `*size` when that is too small.
    unsafe {
        GetExtendedTcpTable(
            buf.as_mut_ptr().cast(),
            size,
            0,
            af,
            TCP_TABLE_OWNER_PID_ALL,
            0,
        )
    }
}

/// `GetExtendedUdpTable(buf, size, FALSE, af, UDP_TABLE_OWNER_PID, 0)`.
#[allow(unsafe_code)]
fn udp_table_call(buf: &mut [u32], size: &mut u32, af: u32) -> u32 {
    debug_assert!(*size as usize <= buf.len() * 4);
    // SAFETY: as in `tcp_table_call`.
    unsafe { GetExtendedUdpTable(buf.as_mut_ptr().cast(), size, 0, af, UDP_TABLE_OWNER_PID, 0) }
}

/// pid → owner, each process opened once; counts refusals.
struct OwnerCache {
    wanted: bool,
    seen: HashMap<u32, OwnerLookup>,
    denied: usize,
}

impl OwnerCache {
    fn new(wanted: bool) -> Self {
        OwnerCache {
            wanted,
            seen: HashMap::new(),
            denied: 0,
        }
    }

    fn lookup(&mut self, pid: u32) -> OwnerLookup {
        if !self.wanted {
            return OwnerLookup::NotRequested;
        }
        if let Some(hit) = self.seen.get(&pid) {
            return hit.clone();
        }
        let found = conv::well_known_owner(pid).unwrap_or_else(|| open_owner(pid));
        if found == OwnerLookup::Denied {
            self.denied += 1;
        }
        self.seen.insert(pid, found.clone());
        found
    }
}

fn open_owner(pid: u32) -> OwnerLookup {
    match ProcessHandle::open(pid) {
        Ok(h) => match h.image_path() {
            Some(path) => OwnerLookup::Found(conv::process_from_image(pid, &path)),
            None => OwnerLookup::Exited,
        },
        Err(ERROR_ACCESS_DENIED) => OwnerLookup::Denied,
        Err(_) => OwnerLookup::Exited, // ERROR_INVALID_PARAMETER: no such process
    }
}

/// An open process handle, closed on drop.
struct ProcessHandle(HANDLE);

impl ProcessHandle {
    /// `OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid)`; the error is
    /// `GetLastError()`.
    #[allow(unsafe_code)]
    fn open(pid: u32) -> Result<ProcessHandle, u32> {
        // SAFETY: plain call with no pointer arguments; a null result means failure.
        let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if h.is_null() {
            // SAFETY: reads the calling thread's last-error value; no arguments.
            Err(unsafe { GetLastError() })
        } else {
            Ok(ProcessHandle(h))
        }
    }

    /// `QueryFullProcessImageNameW(h, PROCESS_NAME_WIN32, …)`: the image's Win32 path.
    #[allow(unsafe_code)]
    fn image_path(&self) -> Option<String> {
        let mut buf = vec![0u16; 32_768]; // the longest Win32 path, in UTF-16 units
        let mut len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        // SAFETY: `self.0` is an open handle with PROCESS_QUERY_LIMITED_INFORMATION;
        // `buf` holds `len` writable u16s; on success `len` is set to the characters
        // written (without the terminating NUL).
        let ok = unsafe {
            QueryFullProcessImageNameW(self.0, PROCESS_NAME_WIN32, buf.as_mut_ptr(), &mut len)
        };
        (ok != 0).then(|| String::from_utf16_lossy(&buf[..(len as usize).min(buf.len())]))
    }
}

impl Drop for ProcessHandle {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: `self.0` came from a successful OpenProcess and is closed exactly once.
        unsafe {
            CloseHandle(self.0);
        }
    }
}
