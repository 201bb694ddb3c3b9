// Bounds shared by block operations (protocol/ops.ts) and work evidence (protocol/evidence.ts). A leaf module:
// fraud operations carry evidence, so ops.ts depends on evidence.ts and the two cannot import each other.

/** A registration travels in one peer frame (protocol/wire.ts MAX_FRAME_BYTES); an RSA-4096 CA certificate is ~1.5 KB. */
export const MAX_CERT_BYTES = 3_072
/** Node capacity bounds, as in the genesis' node list. */
export const MAX_MILLICORES = 10_000_000n
export const MAX_MEMORY_BYTES = 1n << 50n
