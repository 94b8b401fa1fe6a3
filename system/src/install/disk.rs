//! The disk: a GPT partition table with the EFI system partition and the root
//! partition, and their file system images copied into place.
//!
//! ```text
//! LBA 0            protective MBR
//! LBA 1..2047      primary GPT
//! 1 MiB            partition 1 "b8g-esp"  (EFI system partition, FAT32)
//! 1 MiB + ESP      partition 2 "b8g-root" (Linux file system, ext4)
//! last 33 LBAs     backup GPT
//! ```
//!
//! The partition names (GPT labels) say what each partition is; stage 1 finds
//! the file systems by their UUIDs ([`super::DiskIds`]), random for each
//! installation.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use gpt::disk::LogicalBlockSize;
use gpt::partition_types;

use super::InstallError;

/// Sector size the table is written for.
pub const SECTOR: u64 = 512;
/// Where the first partition starts, and what the table keeps at the end.
pub const MIB: u64 = 1 << 20;
/// The GPT label of the EFI system partition.
pub const ESP_LABEL: &str = "b8g-esp";
/// The GPT label of the root partition.
pub const ROOT_LABEL: &str = "b8g-root";

/// Sizes of a disk's parts, in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub esp_mib: u64,
    pub root_mib: u64,
}

impl Layout {
    /// The whole disk: 1 MiB before the partitions, 1 MiB after (the backup table).
    pub fn disk_bytes(&self) -> u64 {
        (self.esp_mib + self.root_mib + 2) * MIB
    }

    /// The layout of a disk of `disk_bytes` bytes: the root takes what the ESP leaves.
    pub fn fill(disk_bytes: u64, esp_mib: u64) -> Option<Layout> {
        let root_mib = (disk_bytes / MIB).checked_sub(esp_mib + 2)?;
        Some(Layout { esp_mib, root_mib })
    }
}

/// The size of `disk` in bytes when it exists (a file or a block device).
pub fn existing_size(disk: &Path) -> Result<Option<u64>, InstallError> {
    let meta = match fs::metadata(disk) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(InstallError::Io {
                op: "stat",
                path: disk.to_path_buf(),
                source,
            })
        }
    };
    if meta.file_type().is_block_device() {
        let mut f = fs::File::open(disk).map_err(io_err("open", disk))?;
        return Ok(Some(
            f.seek(SeekFrom::End(0)).map_err(io_err("size", disk))?,
        ));
    }
    if !meta.is_file() {
        return Err(InstallError::NotADisk(disk.to_path_buf()));
    }
    Ok(Some(meta.len()))
}

/// Whether `disk` holds anything: a nonzero byte in its first MiB (where
/// partition tables and file system headers are). A missing or empty file
/// holds nothing.
pub fn holds_data(disk: &Path) -> Result<bool, InstallError> {
    if fs::metadata(disk).is_ok_and(|m| m.is_dir()) {
        return Err(InstallError::NotADisk(disk.to_path_buf()));
    }
    let mut f = match fs::File::open(disk) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err("open", disk)(e)),
    };
    let mut head = Vec::with_capacity(MIB as usize);
    io::Read::take(&mut f, MIB)
        .read_to_end(&mut head)
        .map_err(io_err("read", disk))?;
    Ok(head.iter().any(|&b| b != 0))
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> InstallError + 'a {
    move |source| InstallError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the partition table of `layout` to `disk` (a file is created or
/// resized to fit; a block device must be big enough), then the ESP and root
/// images into their partitions, and flushes it all.
pub fn write(
    disk: &Path,
    layout: Layout,
    esp_img: &Path,
    root_img: &Path,
) -> Result<(), InstallError> {
    let gpt_err = |e: &dyn std::fmt::Display| InstallError::PartitionTable {
        disk: disk.to_path_buf(),
        reason: e.to_string(),
    };
    let bytes = layout.disk_bytes();
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(disk)
        .map_err(io_err("open", disk))?;
    let is_block = f
        .metadata()
        .map_err(io_err("stat", disk))?
        .file_type()
        .is_block_device();
    if is_block {
        let have = f.seek(SeekFrom::End(0)).map_err(io_err("size", disk))?;
        if have < bytes {
            return Err(InstallError::TooSmall {
                disk: disk.to_path_buf(),
                have_mib: have / MIB,
                need_mib: bytes / MIB,
            });
        }
    } else {
        f.set_len(bytes).map_err(io_err("size", disk))?;
    }
    let sectors = if is_block {
        f.seek(SeekFrom::End(0)).map_err(io_err("size", disk))? / SECTOR
    } else {
        bytes / SECTOR
    };
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(sectors - 1).unwrap_or(u32::MAX));
    mbr.overwrite_lba0(&mut f).map_err(|e| gpt_err(&e))?;
    let mut table = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(LogicalBlockSize::Lb512)
        .create_from_device(f, None)
        .map_err(|e| gpt_err(&e))?;
    table
        .update_partitions(BTreeMap::new())
        .map_err(|e| gpt_err(&e))?;
    let esp_first = MIB / SECTOR;
    let esp_len = layout.esp_mib * MIB / SECTOR;
    let root_len = layout.root_mib * MIB / SECTOR;
    table
        .add_partition_at(ESP_LABEL, 1, esp_first, esp_len, partition_types::EFI, 0)
        .map_err(|e| gpt_err(&e))?;
    table
        .add_partition_at(
            ROOT_LABEL,
            2,
            esp_first + esp_len,
            root_len,
            partition_types::LINUX_FS,
            0,
        )
        .map_err(|e| gpt_err(&e))?;
    let mut f = table.write().map_err(|e| gpt_err(&e))?;
    copy_into(&mut f, MIB, esp_img, layout.esp_mib * MIB, disk)?;
    copy_into(
        &mut f,
        MIB + layout.esp_mib * MIB,
        root_img,
        layout.root_mib * MIB,
        disk,
    )?;
    f.sync_all().map_err(io_err("sync", disk))?;
    Ok(())
}

/// Copies the image `img` (at most `max` bytes) into `disk` at `offset`.
fn copy_into(
    disk_file: &mut fs::File,
    offset: u64,
    img: &Path,
    max: u64,
    disk: &Path,
) -> Result<(), InstallError> {
    let mut src = fs::File::open(img).map_err(io_err("open", img))?;
    let len = src.metadata().map_err(io_err("stat", img))?.len();
    if len > max {
        return Err(InstallError::TooSmall {
            disk: img.to_path_buf(),
            have_mib: max / MIB,
            need_mib: len.div_ceil(MIB),
        });
    }
    disk_file
        .seek(SeekFrom::Start(offset))
        .map_err(io_err("seek", disk))?;
    io::copy(&mut src, disk_file).map_err(io_err("write", disk))?;
    disk_file.flush().map_err(io_err("write", disk))?;
    Ok(())
}

/// The partitions of a disk: (GPT label, first byte, length in bytes).
pub fn read_partitions(disk: &Path) -> Result<Vec<(String, u64, u64)>, InstallError> {
    let table = gpt::GptConfig::new()
        .writable(false)
        .logical_block_size(LogicalBlockSize::Lb512)
        .open(disk)
        .map_err(|e| InstallError::PartitionTable {
            disk: disk.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok(table
        .partitions()
        .values()
        .map(|p| {
            (
                p.name.clone(),
                p.first_lba * SECTOR,
                (p.last_lba + 1 - p.first_lba) * SECTOR,
            )
        })
        .collect())
}
