//! Unix (Linux, macOS): errno constants and RLIMIT_NOFILE.

use std::io;

use super::Errno;

/// Maps an OS error to its portable class.
pub fn errno_of(err: &io::Error) -> Errno {
    let Some(code) = err.raw_os_error() else {
        return match err.kind() {
            io::ErrorKind::TimedOut => Errno::TimedOut,
            _ => Errno::Other,
        };
    };
    match code {
        libc::ECONNREFUSED => Errno::ConnRefused,
        libc::ETIMEDOUT => Errno::TimedOut,
        libc::ENETUNREACH => Errno::NetUnreach,
        libc::EHOSTUNREACH => Errno::HostUnreach,
        libc::EACCES => Errno::Access,
        libc::EPERM => Errno::Perm,
        libc::ENOPROTOOPT => Errno::NoProtoOpt,
        libc::EHOSTDOWN => Errno::HostDown,
        libc::EINPROGRESS => Errno::InProgress,
        libc::EMFILE | libc::ENFILE => Errno::TooManyFiles,
        libc::ENOBUFS | libc::ENOMEM => Errno::NoBufs,
        libc::EADDRNOTAVAIL | libc::EAGAIN => Errno::AddrNotAvail,
        libc::EADDRINUSE => Errno::AddrInUse,
        _ => Errno::Other,
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
pub fn raise_nofile_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass by valid pointer.
    #[allow(unsafe_code)]
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if got != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        #[allow(unsafe_code)]
        let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) };
        if set == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    Some(lim.rlim_cur)
}
