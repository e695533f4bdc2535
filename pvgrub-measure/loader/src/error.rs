//! The loader's one error type: every way a disk, a config, a kernel or an option can be
//! wrong, each with a message fit for the console line that stops the domain.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::fmt;

use vtpm_store::BlockError;

/// Why finding, loading or checking the kernel failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// A sector read failed or ran past the end of the disk.
    Disk(BlockError),
    /// The MBR or an extended-partition chain is inconsistent.
    BadMbr(String),
    /// Neither the primary nor the backup GPT header (with its entry array) is valid.
    BadGpt(String),
    /// A device or partition name that the disk does not have.
    NoSuchPartition(String),
    /// A device/path string that cannot be parsed (`(hd0,msdos1)/boot/...`).
    BadPath(String),
    /// The partition holds no readable ext2/3/4 file system.
    Filesystem(String),
    /// A file named by the config or the options is not there.
    FileNotFound(String),
    /// No `grub.cfg` or `menu.lst` was found (or the named one is missing).
    NoConfig(String),
    /// The config cannot be parsed (with its line).
    Config(String),
    /// The config defines no bootable entry, or the chosen one has no kernel.
    NoEntry(String),
    /// An `extra=` option is wrong.
    BadOption(String),
    /// The kernel is neither a bzImage (boot protocol >= 2.08) nor an ELF.
    BadBzImage(String),
    /// The payload uses a compression this loader has no decoder for.
    UnsupportedCompression(&'static str),
    /// The payload is damaged or larger than allowed.
    Decompress(String),
    /// The decompressed kernel is not a well-formed ELF64 x86_64 executable.
    BadElf(String),
    /// The kernel is an ELF but not a Xen PV kernel.
    NotPv(String),
    /// The kernel, initrd and boot structures do not fit the domain.
    Layout(String),
    /// The new domain image (frames, page tables, start_info) cannot be built for the in-place boot.
    Boot(String),
    /// One of the above, about this file (`(hd0,msdos1)/boot/vmlinuz-…`).
    InFile { file: String, error: Box<LoadError> },
}

impl LoadError {
    /// The error without its file context.
    pub fn root(&self) -> &LoadError {
        match self {
            LoadError::InFile { error, .. } => error.root(),
            other => other,
        }
    }

    /// This error, said about `file`.
    pub fn in_file(self, file: &impl core::fmt::Display) -> LoadError {
        LoadError::InFile { file: file.to_string(), error: Box::new(self) }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Disk(e) => write!(f, "disk read failed: {}", block_error_text(*e)),
            LoadError::BadMbr(m) => write!(f, "bad MBR partition table: {m}"),
            LoadError::BadGpt(m) => write!(f, "bad GPT partition table: {m}"),
            LoadError::NoSuchPartition(m) => write!(f, "no such partition: {m}"),
            LoadError::BadPath(m) => write!(f, "bad device or path: {m}"),
            LoadError::Filesystem(m) => write!(f, "no ext2/3/4 file system: {m}"),
            LoadError::FileNotFound(m) => write!(f, "file not found: {m}"),
            LoadError::NoConfig(m) => write!(f, "no boot configuration: {m}"),
            LoadError::Config(m) => write!(f, "bad boot configuration: {m}"),
            LoadError::NoEntry(m) => write!(f, "no boot entry: {m}"),
            LoadError::BadOption(m) => write!(f, "bad option: {m}"),
            LoadError::BadBzImage(m) => write!(f, "not a bzImage or ELF kernel: {m}"),
            LoadError::UnsupportedCompression(c) => {
                write!(
                    f,
                    "kernel payload is {c}-compressed, which this loader cannot decompress (it has gzip, xz, zstd)"
                )
            }
            LoadError::Decompress(m) => write!(f, "kernel payload cannot be decompressed: {m}"),
            LoadError::BadElf(m) => write!(f, "bad kernel ELF: {m}"),
            LoadError::NotPv(m) => write!(f, "not a Xen PV kernel: {m}"),
            LoadError::Layout(m) => write!(f, "kernel does not fit: {m}"),
            LoadError::Boot(m) => write!(f, "cannot build the boot image: {m}"),
            LoadError::InFile { file, error } => write!(f, "{file}: {error}"),
        }
    }
}

impl core::error::Error for LoadError {}

fn block_error_text(e: BlockError) -> &'static str {
    match e {
        BlockError::OutOfRange => "past the end of the disk (truncated disk?)",
        BlockError::Unaligned => "unaligned request",
        BlockError::Io => "I/O error from the backend",
    }
}

impl From<BlockError> for LoadError {
    fn from(e: BlockError) -> LoadError {
        LoadError::Disk(e)
    }
}
