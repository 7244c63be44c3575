//! Small state files that hold a secret (a PJC session's seed, on either
//! side): written whole, readable by the owner only, replaced atomically.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::Error;

/// An [`Error::Scratch`] for `what` (e.g. "writing") on `path`.
pub(crate) fn io<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Scratch {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` as `dir/file`: a temporary file created new with mode
/// 0600 (on Unix), written and synced, then renamed over `file`, and the
/// directory synced, so a crash leaves the old file or the new one, never
/// a part.
pub(crate) fn write_private(dir: &Path, file: &str, bytes: &[u8]) -> Result<(), Error> {
    let path = dir.join(file);
    let temporary = dir.join(format!(".{file}.tmp"));
    let _ = fs::remove_file(&temporary);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options
        .open(&temporary)
        .map_err(io("writing", &temporary))?;
    out.write_all(bytes)
        .and_then(|()| out.sync_all())
        .map_err(io("writing", &temporary))?;
    fs::rename(&temporary, &path).map_err(io("writing", &path))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
