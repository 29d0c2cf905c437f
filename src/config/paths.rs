//! Resolving a path written in a file against that file's directory, to a clean absolute path.

use std::path::{Component, Path, PathBuf};

/// The directory a file's relative paths are taken from (`""` for a bare file name: the
/// current directory).
pub(super) fn dir_of(file: &Path) -> &Path {
    file.parent().unwrap_or(Path::new(""))
}

/// `written` taken relative to `dir` (unless absolute), made absolute against the current
/// directory, with `.` and `..` removed lexically (no file system access: the path may not
/// exist yet).
pub(super) fn resolve(dir: &Path, written: impl AsRef<Path>) -> PathBuf {
    let joined = dir.join(written);
    let absolute = std::path::absolute(&joined).unwrap_or(joined);
    let mut clean = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_against_the_directory() {
        assert_eq!(
            resolve(Path::new("/etc/bosun/playbooks"), ".."),
            PathBuf::from("/etc/bosun")
        );
        assert_eq!(
            resolve(Path::new("/etc/bosun"), "./var/../var/hosts"),
            PathBuf::from("/etc/bosun/var/hosts")
        );
        assert_eq!(
            resolve(Path::new("/etc/bosun"), "/srv/git/blog.git"),
            PathBuf::from("/srv/git/blog.git")
        );
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            resolve(dir_of(Path::new("bosun.toml")), "var"),
            cwd.join("var")
        );
    }
}
