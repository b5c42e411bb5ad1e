// The small Swift layer over the generated bindings (CarnetCore.swift):
// opening a store from a directory and a key, a closure for sync progress,
// the header of any record, and (on Apple platforms) the store key kept in
// the Keychain, this device only. Everything but the Keychain part is plain
// Swift/Foundation, so scripts/test-swift compiles and runs it on Linux too.
//
// Every CarnetStore call blocks on disk (sync and fetchPhoto also on the
// network; attaching a photo also resizes it): call it off the main thread,
// e.g. in a `Task.detached` or a BGTask's handler.
import Foundation

/// Entry points of Carnet for an app.
public enum Carnet {
    /// The database file inside the app's store directory.
    public static let databaseFile = "carnet.db"

    /// Size of a store key, in bytes.
    public static let keyBytes = 32

    /// A fresh random store key.
    public static func newKey() -> Data {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<keyBytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }

    /// Opens (or creates) the encrypted store in `directory` with `key`, then
    /// zeroes `key`: the bytes now live only inside the library. Blocking.
    /// Throws `CarnetError.WrongKey` when the key does not open the store.
    public static func open(directory: URL, key: inout Data) throws -> CarnetStore {
        defer { key.resetBytes(in: 0..<key.count) }
        return try CarnetStore.open(path: directory.appendingPathComponent(databaseFile).path, key: key)
    }

    /// The files of a store in `directory`: the database and its SQLite
    /// sidecars. Exclude them from backups (`isExcludedFromBackup`); they are
    /// encrypted with a key that never leaves this device anyway.
    public static func storeFiles(directory: URL) -> [URL] {
        ["", "-wal", "-shm", "-journal"].map { directory.appendingPathComponent(databaseFile + $0) }
    }
}

private final class ClosureSyncProgress: SyncProgress, @unchecked Sendable {
    let callback: (SyncState) -> Void
    init(_ callback: @escaping (SyncState) -> Void) { self.callback = callback }
    func onProgress(state: SyncState) { callback(state) }
}

extension CarnetStore {
    /// Syncs with the team's server, reporting progress to `onProgress`
    /// (called on this thread). Blocking, seconds on a weak connection: call
    /// it off the main thread. `cancel` stops it between requests with
    /// `CarnetError.Cancelled`.
    public func syncBlocking(
        serverUrl: String,
        token: String,
        cancel: SyncCancel? = nil,
        onProgress: @escaping (SyncState) -> Void = { _ in }
    ) throws -> SyncSummary {
        try sync(serverUrl: serverUrl, token: token, progress: ClosureSyncProgress(onProgress), cancel: cancel)
    }

    /// Downloads the full image of photo `hash` of record `id` (a sync
    /// brings thumbnails only), resuming what an earlier call left; then
    /// `photoFull(hash:)` answers. Blocking, network: call it off the main
    /// thread. `onProgress` sees phase `.photos` with the bytes.
    public func fetchPhotoBlocking(
        serverUrl: String,
        token: String,
        id: String,
        hash: String,
        cancel: SyncCancel? = nil,
        onProgress: @escaping (SyncState) -> Void = { _ in }
    ) throws -> SyncSummary {
        try fetchPhoto(serverUrl: serverUrl, token: token, id: id, hash: hash,
                       progress: ClosureSyncProgress(onProgress), cancel: cancel)
    }
}

extension Record {
    /// Id, author and times of any record.
    public var header: Header {
        switch self {
        case let .note(note): return note.header
        case let .report(report): return report.header
        case let .contact(contact): return contact.header
        case let .activity(activity): return activity.header
        }
    }

    /// The record's id.
    public var id: String { header.id }

    /// The record's kind.
    public var kind: Kind {
        switch self {
        case .note: return .note
        case .report: return .report
        case .contact: return .contact
        case .activity: return .activity
        }
    }
}

#if canImport(Security)
import Security

/// The store key in the Keychain: 32 random bytes created on first use,
/// readable after the first unlock (so background sync works while the
/// phone is locked) and never migrated to another device or backup
/// (`kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`).
public enum CarnetKeychain {
    public static let service = "org.carnet.store-key"

    /// The key for `account` (one per store), created if missing.
    public static func loadOrCreateKey(account: String = "default") throws -> Data {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
            kSecReturnData as String: true,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let data = item as? Data, data.count == Carnet.keyBytes {
            return data
        }
        guard status == errSecItemNotFound else { throw KeychainError(status: status) }
        var key = Data(count: Carnet.keyBytes)
        let random = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, Carnet.keyBytes, $0.baseAddress!) }
        guard random == errSecSuccess else { throw KeychainError(status: random) }
        let add: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
            kSecAttrSynchronizable as String: false,
            kSecValueData as String: key,
        ]
        let added = SecItemAdd(add as CFDictionary, nil)
        guard added == errSecSuccess else { throw KeychainError(status: added) }
        return key
    }

    /// Deletes the key (after a wipe, or when the app signs out for good).
    public static func deleteKey(account: String = "default") {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
        ]
        SecItemDelete(query as CFDictionary)
    }

    /// A Keychain failure, with its OSStatus.
    public struct KeychainError: Error {
        public let status: OSStatus
    }
}
#endif
