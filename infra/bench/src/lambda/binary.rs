//! What a `bootstrap` file is, read from its ELF header: its size, its architecture (an arm64
//! build cannot start on an x86_64 machine) and whether its symbols were stripped.

use std::path::{Path, PathBuf};

use object::{Architecture, Object};

use super::BenchError;

pub struct Binary {
    /// The function, named after the bootstrap's directory (the template's logical id).
    pub name: String,
    /// Absolute, as each start runs in its own working directory.
    pub path: PathBuf,
    /// As it was given, for the report.
    pub shown: String,
    pub bytes: u64,
    /// As Rust names it (`aarch64`, `x86_64`), to compare with the host.
    pub arch: String,
    /// No symbol table: the size is what Lambda loads.
    pub stripped: bool,
}

impl Binary {
    pub fn inspect(path: &Path) -> Result<Binary, BenchError> {
        let data =
            std::fs::read(path).map_err(BenchError::io(format!("reading {}", path.display())))?;
        let not_elf = |detail: String| BenchError::NotElf {
            path: path.to_owned(),
            detail,
        };
        let file = object::File::parse(&*data).map_err(|e| not_elf(e.to_string()))?;
        let arch = match file.architecture() {
            Architecture::Aarch64 => "aarch64".to_owned(),
            Architecture::X86_64 => "x86_64".to_owned(),
            other => format!("{other:?}").to_lowercase(),
        };
        let name = path
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let shown = path.display().to_string();
        let path = std::path::absolute(path)
            .map_err(BenchError::io(format!("resolving {}", path.display())))?;
        Ok(Binary {
            name,
            path,
            shown,
            bytes: data.len() as u64,
            arch,
            stripped: file.symbol_table().is_none(),
        })
    }

    /// Whether this machine can execute it (no emulation: its timings would mean nothing).
    pub fn runs_here(&self) -> bool {
        self.arch == std::env::consts::ARCH
    }
}

/// Every `<dir>/*/bootstrap`, in name order.
pub fn find(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BenchError::NoBootstraps(dir.to_owned()));
        }
        Err(e) => return Err(BenchError::io(format!("listing {}", dir.display()))(e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(BenchError::io(format!("listing {}", dir.display())))?;
        let bootstrap = entry.path().join("bootstrap");
        if bootstrap.is_file() {
            found.push(bootstrap);
        }
    }
    found.sort();
    match found.is_empty() {
        true => Err(BenchError::NoBootstraps(dir.to_owned())),
        false => Ok(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_architecture_and_symbols_from_the_elf_header() {
        // This test binary: built for this machine, with its symbols.
        let me = Binary::inspect(&std::env::current_exe().unwrap()).unwrap();
        assert!(me.runs_here());
        assert!(!me.stripped);
        assert!(me.bytes > 0);

        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fn").join("bootstrap");
        std::fs::create_dir(script.parent().unwrap()).unwrap();
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert!(matches!(
            Binary::inspect(&script),
            Err(BenchError::NotElf { .. })
        ));
        assert_eq!(find(dir.path()).unwrap(), vec![script]);
        assert!(matches!(
            find(&dir.path().join("none")),
            Err(BenchError::NoBootstraps(_))
        ));
    }
}
