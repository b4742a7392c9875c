//! Writes the o200k_base (gpt-4o) tokenizer's ranks compactly for `src/assistant/tokens.rs`:
//! every token's bytes in rank order, where each token ends (u32, little-endian), and the
//! pattern that splits text into pieces, and the hash table from bytes to rank
//! (`src/assistant/token_table.rs`). The server counts tokens from these tables, compiled into
//! the binary as read-only data, instead of building hash maps at start-up.

include!("src/assistant/token_table.rs");

use std::error::Error;
use std::path::PathBuf;

/// How many mergeable ranks o200k_base has (0..199_998; the special tokens come after).
const O200K_RANKS: u32 = 199_998;
const _: () = assert!(
    O200K_RANKS < 1 << RANK_BITS,
    "a slot holds rank + 1 in RANK_BITS"
);

fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/assistant/token_table.rs");
    link_packed_relocations();
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let bpe = tiktoken_rs::o200k_base()?;
    let mut bytes = Vec::with_capacity(1 << 21);
    let mut ends = Vec::with_capacity(4 * O200K_RANKS as usize);
    for rank in 0..O200K_RANKS {
        bytes.extend_from_slice(&bpe.decode_bytes(&[rank])?);
        ends.extend_from_slice(&u32::try_from(bytes.len())?.to_le_bytes());
    }
    let end = |rank: usize| -> usize {
        let at = 4 * rank;
        u32::from_le_bytes([ends[at], ends[at + 1], ends[at + 2], ends[at + 3]]) as usize
    };
    let slots = token_slots(O200K_RANKS as usize, |rank| {
        let start = if rank == 0 { 0 } else { end(rank - 1) };
        &bytes[start..end(rank)]
    });
    let slots: Vec<u8> = slots.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(out.join("o200k.slots"), slots)?;
    std::fs::write(out.join("o200k.bytes"), bytes)?;
    std::fs::write(out.join("o200k.ends"), ends)?;
    std::fs::write(out.join("o200k.pattern"), tiktoken_rs::O200K_BASE_PAT_STR)?;
    Ok(())
}

/// The server is a position-independent executable; its relative relocations (about 85,000,
/// 2 MiB of `.rela.dyn`) are applied once at start-up and their pages then stay resident for the
/// life of the process. Packed as DT_RELR (GNU ld 2.38+, glibc 2.36+, lld 15+) they take a few
/// KiB. Only the programs are linked so; the tests' binaries are not.
fn link_packed_relocations() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
