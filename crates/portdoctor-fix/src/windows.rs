//! Windows: stopping a process is `TerminateProcess` (there is no SIGTERM).

use windows_sys::Win32::Foundation::{CloseHandle, STILL_ACTIVE};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_TERMINATE,
    TerminateProcess,
};

/// Ends process `pid` with exit code 1.
#[allow(unsafe_code)]
pub fn terminate(pid: u32) -> Result<(), String> {
    // SAFETY: OpenProcess returns a handle or null; the handle is closed before returning and
    // used only in between.
    unsafe {
        let h = OpenProcess(PROCESS_TERMINATE, 0, pid);
        if h.is_null() {
            return Err(std::io::Error::last_os_error().to_string());
        }
        let ok = TerminateProcess(h, 1);
        CloseHandle(h);
        if ok == 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
    }
    Ok(())
}

/// Whether process `pid` still runs.
#[allow(unsafe_code)]
pub fn alive(pid: u32) -> bool {
    // SAFETY: as above; the exit code is written to a local.
    unsafe {
        let h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if h.is_null() {
            return false;
        }
        let mut code = 0u32;
        let ok = GetExitCodeProcess(h, &mut code);
        CloseHandle(h);
        ok != 0 && code == STILL_ACTIVE as u32
    }
}
