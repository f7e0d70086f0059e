//! libproc: the `socket_fdinfo` layout and one small wrapper per call.
//!
//! The `libc` crate declares `proc_listpids`, `proc_pidinfo`, `proc_pidfdinfo`, `proc_name`,
//! `proc_fdinfo`, `proc_bsdinfo` and `vinfo_stat`, but not `socket_fdinfo` and its parts;
//! those are declared here, field for field, from xnu `bsd/sys/proc_info.h`
//! (apple-oss-distributions/xnu, header "Copyright (c) 2005-2021"; the socket structs have
//! kept this layout since 10.5 — only `SOCKINFO_VSOCK` was added to the union, which does
//! not change its size). The sizes and offsets are checked by the `const` assertions below,
//! computed by hand from the header for LP64 (x86_64 and arm64 Macs alike).

use libc::{c_int, c_void};
use std::io;
use std::mem::MaybeUninit;

/// `proc_listpids` type: every process.
const PROC_ALL_PIDS: u32 = 1;
/// `proc_pidfdinfo` flavor returning a `socket_fdinfo`.
const PROC_PIDFDSOCKETINFO: c_int = 3;

/// `struct proc_fileinfo`.
#[repr(C)]
pub(super) struct ProcFileInfo {
    pub fi_openflags: u32,
    pub fi_status: u32,
    pub fi_offset: i64, // off_t
    pub fi_type: i32,
    pub fi_guardflags: u32,
}

/// The `insi_faddr` / `insi_laddr` union of `struct in4in6_addr` (`u_int32_t
/// i46a_pad32[3]; struct in_addr i46a_addr4;`) and `struct in6_addr`: 16 bytes, 4-aligned.
#[repr(C, align(4))]
pub(super) struct InAddrUnion {
    pub bytes: [u8; 16],
}

/// `insi_v4`.
#[repr(C)]
pub(super) struct InsiV4 {
    pub in4_tos: u8,
}

/// `insi_v6`.
#[repr(C)]
pub(super) struct InsiV6 {
    pub in6_hlim: u8,
    pub in6_cksum: c_int,
    pub in6_ifindex: u16,
    pub in6_hops: i16,
}

/// `struct in_sockinfo`.
#[repr(C)]
pub(super) struct InSockInfo {
    pub insi_fport: c_int,
    pub insi_lport: c_int,
    pub insi_gencnt: u64,
    pub insi_flags: u32,
    pub insi_flow: u32,
    pub insi_vflag: u8,
    pub insi_ip_ttl: u8,
    pub rfu_1: u32,
    pub insi_faddr: InAddrUnion,
    pub insi_laddr: InAddrUnion,
    pub insi_v4: InsiV4,
    pub insi_v6: InsiV6,
}

/// `struct tcp_sockinfo` (`TSI_T_NTIMERS` = 4).
#[repr(C)]
pub(super) struct TcpSockInfo {
    pub tcpsi_ini: InSockInfo,
    pub tcpsi_state: c_int,
    pub tcpsi_timer: [c_int; 4],
    pub tcpsi_mss: c_int,
    pub tcpsi_flags: u32,
    pub rfu_1: u32,
    pub tcpsi_tp: u64,
}

/// The `soi_proto` union. Its largest member is `struct un_sockinfo` (two `uint64_t` and
/// two 255-byte `SOCK_MAXADDRLEN` address unions: 526 bytes, padded to 528). `pri_in` is
/// the first member of `pri_tcp`, so both are read through `tcp`; the rest is padding.
#[repr(C, align(8))]
pub(super) struct SoiProto {
    pub tcp: TcpSockInfo,
    _rest: [u8; 528 - 120],
}

/// `struct sockbuf_info`.
#[repr(C)]
pub(super) struct SockbufInfo {
    pub sbi_cc: u32,
    pub sbi_hiwat: u32,
    pub sbi_mbcnt: u32,
    pub sbi_mbmax: u32,
    pub sbi_lowat: u32,
    pub sbi_flags: i16,
    pub sbi_timeo: i16,
}

/// `struct socket_info`.
#[repr(C)]
pub(super) struct SocketInfo {
    pub soi_stat: libc::vinfo_stat,
    pub soi_so: u64,
    pub soi_pcb: u64,
    pub soi_type: c_int,
    pub soi_protocol: c_int,
    pub soi_family: c_int,
    pub soi_options: i16,
    pub soi_linger: i16,
    pub soi_state: i16,
    pub soi_qlen: i16,
    pub soi_incqlen: i16,
    pub soi_qlimit: i16,
    pub soi_timeo: i16,
    pub soi_error: u16,
    pub soi_oobmark: u32,
    pub soi_rcv: SockbufInfo,
    pub soi_snd: SockbufInfo,
    pub soi_kind: c_int,
    pub rfu_1: u32,
    pub soi_proto: SoiProto,
}

/// `struct socket_fdinfo`: what `PROC_PIDFDSOCKETINFO` returns.
#[repr(C)]
pub(super) struct SocketFdInfo {
    pub pfi: ProcFileInfo,
    pub psi: SocketInfo,
}

// Layout checks (hand-computed from proc_info.h for LP64).
const _: () = assert!(size_of::<libc::vinfo_stat>() == 136);
const _: () = assert!(size_of::<ProcFileInfo>() == 24);
const _: () = assert!(size_of::<InSockInfo>() == 80);
const _: () = assert!(std::mem::offset_of!(InSockInfo, insi_vflag) == 24);
const _: () = assert!(std::mem::offset_of!(InSockInfo, insi_faddr) == 32);
const _: () = assert!(std::mem::offset_of!(InSockInfo, insi_laddr) == 48);
const _: () = assert!(size_of::<TcpSockInfo>() == 120);
const _: () = assert!(std::mem::offset_of!(TcpSockInfo, tcpsi_state) == 80);
const _: () = assert!(size_of::<SoiProto>() == 528);
const _: () = assert!(size_of::<SockbufInfo>() == 24);
const _: () = assert!(std::mem::offset_of!(SocketInfo, soi_so) == 136);
const _: () = assert!(std::mem::offset_of!(SocketInfo, soi_protocol) == 156);
const _: () = assert!(std::mem::offset_of!(SocketInfo, soi_kind) == 232);
const _: () = assert!(std::mem::offset_of!(SocketInfo, soi_proto) == 240);
const _: () = assert!(size_of::<SocketInfo>() == 768);
const _: () = assert!(size_of::<SocketFdInfo>() == 792); // PROC_PIDFDSOCKETINFO_SIZE
const _: () = assert!(size_of::<libc::proc_bsdinfo>() == 136); // PROC_PIDTBSDINFO_SIZE
const _: () = assert!(size_of::<libc::proc_fdinfo>() == 8); // PROC_PIDLISTFD_SIZE

/// Sets `errno` to 0, so that a 0 return without an error can be told from a failure.
#[allow(unsafe_code)]
fn clear_errno() {
    // SAFETY: `__error` returns the calling thread's errno location, valid for writes.
    unsafe { *libc::__error() = 0 };
}

/// `errno` after a failed call, or `None` when there was no error.
fn last_error() -> Option<io::Error> {
    let e = io::Error::last_os_error();
    (e.raw_os_error() != Some(0)).then_some(e)
}

/// All pids (`proc_listpids(PROC_ALL_PIDS)`).
#[allow(unsafe_code)]
pub(super) fn list_pids() -> io::Result<Vec<c_int>> {
    // SAFETY: a null buffer of size 0 asks for the needed size in bytes; nothing is written.
    let needed = unsafe { libc::proc_listpids(PROC_ALL_PIDS, 0, std::ptr::null_mut(), 0) };
    if needed <= 0 {
        return Err(io::Error::last_os_error());
    }
    // Processes may start between the calls: leave room for more.
    let mut pids: Vec<c_int> = vec![0; needed as usize / size_of::<c_int>() + 256];
    let bytes = c_int::try_from(pids.len() * size_of::<c_int>()).unwrap_or(c_int::MAX);
    // SAFETY: `pids` is writable for `bytes` bytes; the call writes at most that many and
    // returns how many it wrote.
    let got = unsafe { libc::proc_listpids(PROC_ALL_PIDS, 0, pids.as_mut_ptr().cast(), bytes) };
    if got <= 0 {
        return Err(io::Error::last_os_error());
    }
    pids.truncate(got as usize / size_of::<c_int>());
    Ok(pids)
}

/// The descriptors of `pid` (`proc_pidinfo(PROC_PIDLISTFDS)`); `EPERM` for processes of
/// other users when not root, `ESRCH` for processes that exited.
#[allow(unsafe_code)]
pub(super) fn list_fds(pid: c_int) -> io::Result<Vec<libc::proc_fdinfo>> {
    clear_errno();
    // SAFETY: a null buffer asks for the size estimate; nothing is written.
    let needed =
        unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDLISTFDS, 0, std::ptr::null_mut(), 0) };
    if needed <= 0 {
        return last_error().map_or(Ok(Vec::new()), Err);
    }
    let entry = size_of::<libc::proc_fdinfo>();
    let mut fds: Vec<MaybeUninit<libc::proc_fdinfo>> =
        Vec::with_capacity(needed as usize / entry + 32);
    let bytes = c_int::try_from(fds.capacity() * entry).unwrap_or(c_int::MAX);
    clear_errno();
    // SAFETY: `fds` has capacity for `bytes` bytes of `proc_fdinfo` entries; the kernel
    // writes whole entries and returns the number of bytes written.
    let got = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDLISTFDS,
            0,
            fds.as_mut_ptr().cast(),
            bytes,
        )
    };
    if got <= 0 {
        return last_error().map_or(Ok(Vec::new()), Err);
    }
    let n = (got as usize / entry).min(fds.capacity());
    // SAFETY: the kernel initialised the first `n` entries (`got` bytes), `n <= capacity`.
    unsafe { fds.set_len(n) };
    // SAFETY: the entries are initialised; `proc_fdinfo` is two plain integers.
    Ok(fds
        .into_iter()
        .map(|f| unsafe { f.assume_init() })
        .collect())
}

/// The socket behind descriptor `fd` of `pid` (`proc_pidfdinfo(PROC_PIDFDSOCKETINFO)`);
/// `None` when it is gone or the kernel returned less than a whole `socket_fdinfo`.
#[allow(unsafe_code)]
pub(super) fn socket_info(pid: c_int, fd: c_int) -> Option<SocketFdInfo> {
    let mut info = MaybeUninit::<SocketFdInfo>::zeroed();
    let size = size_of::<SocketFdInfo>() as c_int;
    // SAFETY: `info` is writable for `size` bytes; the call writes at most that many.
    let got = unsafe {
        libc::proc_pidfdinfo(
            pid,
            fd,
            PROC_PIDFDSOCKETINFO,
            info.as_mut_ptr().cast(),
            size,
        )
    };
    // SAFETY: the memory was zeroed (a valid value for this all-integer struct) and the
    // kernel filled it completely.
    (got == size).then(|| unsafe { info.assume_init() })
}

/// `proc_pidinfo(PROC_PIDTBSDINFO)`: uids and short names of `pid`.
#[allow(unsafe_code)]
pub(super) fn bsd_info(pid: c_int) -> Option<libc::proc_bsdinfo> {
    let mut info = MaybeUninit::<libc::proc_bsdinfo>::zeroed();
    let size = size_of::<libc::proc_bsdinfo>() as c_int;
    // SAFETY: `info` is writable for `size` bytes; the call writes at most that many.
    let got = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            info.as_mut_ptr().cast(),
            size,
        )
    };
    // SAFETY: zeroed is valid for this all-integer struct, and the kernel filled it.
    (got == size).then(|| unsafe { info.assume_init() })
}

/// `proc_name(pid)`: the process name (up to 2×MAXCOMLEN bytes).
#[allow(unsafe_code)]
pub(super) fn proc_name(pid: c_int) -> Option<String> {
    let mut buf = [0u8; 2 * libc::MAXCOMLEN + 1];
    // SAFETY: `buf` is writable for its length; the call writes at most that many bytes
    // and returns the name's length.
    let len = unsafe { libc::proc_name(pid, buf.as_mut_ptr().cast::<c_void>(), buf.len() as u32) };
    let len = usize::try_from(len).ok().filter(|&l| l > 0)?;
    Some(String::from_utf8_lossy(&buf[..len.min(buf.len())]).into_owned())
}

/// The user name of `uid` (`getpwuid_r`).
#[allow(unsafe_code)]
pub(super) fn user_name(uid: u32) -> Option<String> {
    let mut pwd = MaybeUninit::<libc::passwd>::zeroed();
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the sizes given; on success `result` points at
    // `pwd`, whose string fields point into `buf`, which outlives their use below.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            pwd.as_mut_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: success: `pwd` is initialised and `pw_name` a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr((*result).pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// A NUL-padded `char[N]` (as in `pbi_comm` / `pbi_name`) as a string.
pub(super) fn c_chars(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .map(|&c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
