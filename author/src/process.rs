//! Child processes (cargo, the SDK builds and installs) run in a process
//! group of their own, killed whole if they are abandoned: a stopped
//! `edgechain dev` leaves no build, and no compiler a build started, running.
//!
//! The lowest room of the crate: `build` (and through it `dev` and
//! `scaffold`) spawns every long-running tool through here.

/// A spawned child's process group, killed with SIGKILL when dropped before
/// [`Group::finished`] says the child is done.
#[derive(Debug)]
pub(crate) struct Group(Option<u32>);

impl Group {
    /// The child exited (it was waited for): there is nothing left to kill,
    /// and the group id may be reused by another process.
    pub(crate) fn finished(mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: killpg only sends a signal, to the group created for
            // this child (its leader has not been waited for, so the id is
            // still its own).
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
    }
}

/// Spawn `cmd` (its stdio already set) as the leader of a new process group,
/// killed on drop: the child by tokio, the rest of the group by the returned
/// [`Group`] unless told [`Group::finished`].
pub(crate) fn spawn(
    cmd: &mut tokio::process::Command,
) -> std::io::Result<(tokio::process::Child, Group)> {
    #[cfg(unix)]
    cmd.process_group(0);
    let child = cmd.kill_on_drop(true).spawn()?;
    let group = Group(child.id());
    Ok((child, group))
}

/// Run `cmd` to completion with its output captured, in a process group of
/// its own that is killed if the returned future is dropped first (so a
/// stopped `edgechain dev` leaves no build running).
pub(crate) async fn run_captured(
    cmd: &mut tokio::process::Command,
) -> std::io::Result<std::process::Output> {
    let (child, group) = spawn(
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    )?;
    let out = child.wait_with_output().await;
    group.finished();
    out
}
