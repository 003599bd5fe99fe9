//! Writing report files whole or not at all.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::model::Report;
use super::{html, junit, markdown};

/// Writes `contents` to `path` through a temporary file in the same folder
/// and a rename, so a reader never sees a partial file.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(folder)?;
    temporary.write_all(contents)?;
    // Temporary files are private; reports are for everyone who can read the folder.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temporary
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Writes report.md, report.html, junit.xml and then report.json into
/// `folder`, and returns their paths.
pub fn write_report(folder: &Path, report: &Report) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(folder)?;
    let markdown_path = folder.join("report.md");
    write_atomically(&markdown_path, markdown::render(report).as_bytes())?;
    let html_path = folder.join("report.html");
    write_atomically(&html_path, html::render(report).as_bytes())?;
    let junit_path = folder.join("junit.xml");
    write_atomically(&junit_path, junit::run_junit(report).as_bytes())?;
    let json_path = folder.join("report.json");
    let json = serde_json::to_vec_pretty(report).expect("a report serialises to JSON");
    write_atomically(&json_path, &json)?;
    Ok(vec![json_path, markdown_path, html_path, junit_path])
}
