// The Holepunch stack ships no TypeScript declarations; these cover what econumi uses.
declare module 'corestore' { const Corestore: any; export default Corestore }
declare module 'hypercore' { const Hypercore: any; export default Hypercore }
declare module 'hyperswarm' { const Hyperswarm: any; export default Hyperswarm }
declare module 'hyperdht' { const DHT: any; export default DHT }
declare module 'protomux' { const Protomux: any; export default Protomux }
declare module 'compact-encoding' { const c: any; export default c }
declare module 'b4a' { const b4a: any; export default b4a }
