//! The `baton` binary as linked: settings made in `build.rs` that no behaviour shows.

/// Reads the tags of an ELF64 little-endian file's dynamic section.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn dynamic_tags(bytes: &[u8]) -> Vec<u64> {
    let u16_at = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[4], 2, "not a 64-bit ELF file");
    assert_eq!(bytes[5], 1, "not a little-endian ELF file");
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
    const PT_DYNAMIC: u32 = 2;
    let dynamic = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&ph| u32::from_le_bytes(bytes[ph..ph + 4].try_into().unwrap()) == PT_DYNAMIC)
        .expect("the binary has no dynamic section (linked statically?)");
    let (offset, size) = (u64_at(dynamic + 8) as usize, u64_at(dynamic + 32) as usize);
    (offset..offset + size)
        .step_by(16)
        .map(u64_at)
        .take_while(|&tag| tag != 0)
        .collect()
}

/// This process's glibc version, (major, minor).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc() -> (u32, u32) {
    // SAFETY: returns a static NUL-terminated string.
    let text = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    let text = text.to_str().expect("glibc's version is ASCII");
    let mut parts = text
        .split('.')
        .map(|p| p.parse::<u32>().expect("a numeric version"));
    (parts.next().unwrap(), parts.next().unwrap())
}

/// Every command starts by relocating the binary: packed (DT_RELR), its table is about 9 KiB
/// instead of 800, and a 1-step run takes about 8% less CPU (README, "Performance"). Only
/// where glibc can load such a binary (2.36): elsewhere baton must still start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_binary_packs_its_relative_relocations_where_glibc_loads_them() {
    const DT_RELR: u64 = 36;
    const DT_RELA: u64 = 7;
    const DT_RELASZ: u64 = 8;
    let bytes = std::fs::read(env!("CARGO_BIN_EXE_baton")).expect("read the baton binary");
    let tags = dynamic_tags(&bytes);
    assert!(
        tags.contains(&DT_RELA) && tags.contains(&DT_RELASZ),
        "{tags:?}"
    );
    if glibc() >= (2, 36) {
        assert!(
            tags.contains(&DT_RELR),
            "the baton binary has no DT_RELR entry: build.rs's `-z pack-relative-relocs` did \
             not take (a linker older than binutils 2.38?); dynamic tags: {tags:?}"
        );
    } else {
        assert!(
            !tags.contains(&DT_RELR),
            "the baton binary has a DT_RELR entry, which glibc {:?} cannot load",
            glibc()
        );
    }
}
