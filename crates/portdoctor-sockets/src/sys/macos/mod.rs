//! macOS: libproc. Sockets are reached only through processes: every pid
//! (`proc_listpids`) → its descriptors (`PROC_PIDLISTFDS`) → each socket descriptor's
//! `socket_fdinfo` (`PROC_PIDFDSOCKETINFO`). A socket of a process that cannot be inspected
//! is therefore invisible; the snapshot's notes say how many processes that was.
//!
//! The record → [`Socket`] conversion is in [`crate::convert_macos`] (tested on every OS).

mod ffi;

use crate::SocketsError;
use crate::convert_macos::{self as conv, Holder, RawInSocket};
use crate::model::{Process, Proto, Snapshot, SnapshotOptions, Socket, Source};
use std::collections::HashMap;

pub(crate) fn snapshot(opts: &SnapshotOptions) -> Result<Snapshot, SocketsError> {
    let pids = ffi::list_pids().map_err(|source| SocketsError::Os {
        call: "proc_listpids",
        source,
    })?;
    let mut records = Vec::new();
    let mut denied = 0usize;
    for pid in pids.into_iter().filter(|&p| p > 0) {
        match ffi::list_fds(pid) {
            Ok(fds) => collect_process(pid, &fds, opts.owners, &mut records),
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => denied += 1,
            Err(_) => {} // exited meanwhile (ESRCH)
        }
    }
    let mut sockets = conv::build_sockets(&records);
    sockets.retain(|s| match s.proto {
        Proto::Tcp => opts.tcp,
        Proto::Udp => opts.udp,
    });
    fill_user_names(&mut sockets);
    Ok(Snapshot {
        source: Source::Libproc,
        notes: conv::hidden_processes_note(denied).into_iter().collect(),
        sockets,
    })
}

/// Reads the internet sockets among `fds` of `pid` into `records`.
fn collect_process(
    pid: libc::c_int,
    fds: &[libc::proc_fdinfo],
    owners: bool,
    records: &mut Vec<(RawInSocket, Holder)>,
) {
    let raws: Vec<RawInSocket> = fds
        .iter()
        .filter(|f| f.proc_fdtype == libc::PROX_FDTYPE_SOCKET as u32)
        .filter_map(|f| ffi::socket_info(pid, f.proc_fd))
        .map(|info| raw_from(&info))
        .filter(|r| r.kind == conv::SOCKINFO_IN || r.kind == conv::SOCKINFO_TCP)
        .collect();
    if raws.is_empty() {
        return;
    }
    let holder = if owners {
        holder(pid)
    } else {
        Holder::NotRequested
    };
    records.extend(raws.into_iter().map(|r| (r, holder.clone())));
}

/// Copies the fields the conversion needs out of the kernel's struct.
fn raw_from(info: &ffi::SocketFdInfo) -> RawInSocket {
    let psi = &info.psi;
    let tcp = &psi.soi_proto.tcp;
    let ini = &tcp.tcpsi_ini; // pri_in and pri_tcp.tcpsi_ini share their offset
    RawInSocket {
        handle: psi.soi_so,
        kind: psi.soi_kind,
        protocol: psi.soi_protocol,
        uid: psi.soi_stat.vst_uid,
        vflag: ini.insi_vflag,
        flags: ini.insi_flags,
        lport: ini.insi_lport,
        fport: ini.insi_fport,
        laddr: ini.insi_laddr.bytes,
        faddr: ini.insi_faddr.bytes,
        tcp_state: tcp.tcpsi_state,
    }
}

/// The process holding descriptors of `pid`: name from `proc_name`, else from the BSD
/// info's `pbi_name` / `pbi_comm`; uid from `pbi_ruid`.
fn holder(pid: libc::c_int) -> Holder {
    let bsd = ffi::bsd_info(pid);
    let name = ffi::proc_name(pid).or_else(|| {
        let b = bsd.as_ref()?;
        let name = ffi::c_chars(&b.pbi_name);
        Some(if name.is_empty() {
            ffi::c_chars(&b.pbi_comm)
        } else {
            name
        })
    });
    let Some(name) = name else {
        return Holder::Denied;
    };
    Holder::Process(Process {
        pid: pid as u32,
        name,
        cmdline: Vec::new(),
        uid: bsd.as_ref().map(|b| b.pbi_ruid),
        user: None,
    })
}

/// Fills `user` of sockets and their owners from their uids, each uid looked up once.
fn fill_user_names(sockets: &mut [Socket]) {
    let mut cache: HashMap<u32, Option<String>> = HashMap::new();
    let mut lookup = |uid: Option<u32>| {
        let uid = uid?;
        cache
            .entry(uid)
            .or_insert_with(|| ffi::user_name(uid))
            .clone()
    };
    for s in sockets.iter_mut() {
        s.user = lookup(s.uid);
        for p in s.owners.iter_mut() {
            p.user = lookup(p.uid);
        }
    }
}
