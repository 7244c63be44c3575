#![no_main]
//! Every message decoder on arbitrary bytes: errors, never panics.
use libfuzzer_sys::fuzz_target;
use psi_core::bucket::wire::{RunAnswer, RunHello, RunReady};
use psi_core::codec::{
    ClientHello, Codec, KeyDeclaration, PointChunk, PointStream, ServerHello, TagChunk,
};
use psi_core::kkrt::{MatrixChunk, OprfChunk, ReceiverHello, SenderHello};
use psi_core::linkage::{
    LinkIds, LinkResult, LinkageFinish, LinkageTotals, ShardLinks, StepRecorded,
};
use psi_core::pjc::{
    DecryptedSum, MaskedSum, PjcHello, ResponderSetChunk, ShuffledTags, SumResult,
};

fuzz_target!(|data: &[u8]| {
    let _ = ClientHello::from_bytes(data);
    let _ = ServerHello::from_bytes(data);
    let _ = TagChunk::from_bytes(data);
    let _ = KeyDeclaration::from_bytes(data);
    let _ = PointChunk::decode(PointStream::ClientMasked, data);
    let _ = PointChunk::decode(PointStream::ServerMasked, data);
    let _ = ReceiverHello::from_bytes(data);
    let _ = SenderHello::from_bytes(data);
    let _ = MatrixChunk::from_bytes(data);
    let _ = OprfChunk::from_bytes(data);
    let _ = PointChunk::decode(PointStream::CounterMasked, data);
    let _ = PjcHello::from_bytes(data);
    let _ = ShuffledTags::from_bytes(data);
    let _ = ResponderSetChunk::from_bytes(data);
    let _ = SumResult::from_bytes(data);
    let _ = MaskedSum::from_bytes(data);
    let _ = DecryptedSum::from_bytes(data);
    // External-memory PJC's temporary-file records (not wire messages, but
    // read back from a disk that may have been tampered with).
    let _ = psi_core::pjc::external::Query::read(data, false);
    let _ = psi_core::pjc::external::Query::read(data, true);
    let _ = psi_core::pjc::external::read_tags(data);
    let _ = psi_core::pjc::external::read_set_records(data);
    let _ = LinkResult::from_bytes(data);
    let _ = LinkIds::from_bytes(data);
    let _ = ShardLinks::from_bytes(data);
    let _ = StepRecorded::from_bytes(data);
    let _ = LinkageFinish::from_bytes(data);
    let _ = LinkageTotals::from_bytes(data);
    let _ = RunHello::from_bytes(data);
    let _ = RunAnswer::from_bytes(data);
    let _ = RunReady::from_bytes(data);
});
