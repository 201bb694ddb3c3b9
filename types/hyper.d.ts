// The Holepunch stack ships no TypeScript declarations; these cover what econumi uses.
declare module 'corestore' { const Corestore: any; export default Corestore }
declare module 'hypercore' { const Hypercore: any; export default Hypercore }
declare module 'hyperswarm' { const Hyperswarm: any; export default Hyperswarm }
declare module 'hyperdht' { const DHT: any; export default DHT }
declare module 'protomux' { const Protomux: any; export default Protomux }
declare module 'compact-encoding' { const c: any; export default c }
declare module 'b4a' { const b4a: any; export default b4a }
declare module 'sodium-native' {
  /** SHA-512 and the edwards25519 group operations econumi uses (libsodium; each throws on an invalid point or identity result). */
  const sodium: {
    crypto_sign_verify_detached: (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean
    crypto_core_ed25519_add: (r: Uint8Array, p: Uint8Array, q: Uint8Array) => void
    crypto_core_ed25519_sub: (r: Uint8Array, p: Uint8Array, q: Uint8Array) => void
    crypto_scalarmult_ed25519_noclamp: (q: Uint8Array, n: Uint8Array, p: Uint8Array) => void
    crypto_scalarmult_ed25519_base_noclamp: (q: Uint8Array, n: Uint8Array) => void
    crypto_hash_sha512: (out: Uint8Array, data: Uint8Array) => void
  }
  export default sodium
}
