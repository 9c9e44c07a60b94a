//! Who is acting: the OS user of a process (uid → name), never an environment variable.
//!
//! `$USER` and `$LOGNAME` are whatever the caller set, so the audit of a gate would record
//! what anyone typed. The one identity function here asks the kernel: this process's
//! effective uid, or a socket peer's (`SO_PEERCRED`), named through the password database.

use std::os::fd::AsRawFd;

use serde::{Deserialize, Serialize};

/// An OS user: the uid, and its name from the password database (the number when it has none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The user id.
    pub uid: u32,
    /// Its login name.
    pub name: String,
}

impl Operator {
    /// The user this process runs as (its effective uid, the one files and sockets check).
    pub fn current() -> Operator {
        Operator::of_uid(current_uid())
    }

    /// The user with this uid.
    pub fn of_uid(uid: u32) -> Operator {
        Operator {
            uid,
            name: user_name(uid).unwrap_or_else(|| uid.to_string()),
        }
    }

    /// The user at the other end of a connected Unix socket, as the kernel saw it connect.
    pub fn of_peer(socket: &impl AsRawFd) -> std::io::Result<Operator> {
        peer_uid(socket).map(Operator::of_uid)
    }
}

impl std::fmt::Display for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (uid {})", self.name, self.uid)
    }
}

/// This process's effective uid.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// The uid of the process at the other end of a connected Unix socket (`SO_PEERCRED`).
pub fn peer_uid(socket: &impl AsRawFd) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a live ucred and `len` its size; the kernel writes at most `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// The login name of `uid` from the password database (`getpwuid_r`), if it has one.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero passwd is a valid value to be overwritten by getpwuid_r.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` outlives the strings it holds,
        // which are copied out before it is dropped or grown.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success pw_name points at a NUL-terminated string inside `buf`.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

/// This machine's name as the kernel has it (`gethostname`), `localhost` when it has none.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match (ok, std::str::from_utf8(&buf[..end])) {
        (true, Ok(name)) if !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_user_comes_from_the_os_not_from_user() {
        let me = Operator::current();
        assert_eq!(me.uid, current_uid());
        // Tests run with whatever `$USER`; the name must be the password database's.
        let from_db = user_name(me.uid).unwrap_or_else(|| me.uid.to_string());
        assert_eq!(me.name, from_db);
        assert_eq!(Operator::of_uid(0).name, "root");
    }

    #[test]
    fn a_socket_peer_is_named_by_the_kernel() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(Operator::of_peer(&a).unwrap(), Operator::current());
    }

    #[test]
    fn a_uid_without_an_entry_is_named_by_its_number() {
        assert_eq!(Operator::of_uid(4_000_000_001).name, "4000000001");
    }
}
