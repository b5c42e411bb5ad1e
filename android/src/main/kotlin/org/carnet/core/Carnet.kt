// The small Kotlin layer over the generated bindings (org.carnet.core, from
// carnet_ffi.kt): opening a store from a directory and a key, a lambda for
// sync progress, and the header of any record. Everything here is plain
// Kotlin/JVM, so scripts/test-kotlin compiles and runs it off Android too.
//
// Every CarnetStore call blocks on disk (sync and fetchPhoto also on the
// network; attaching a photo also resizes it): call it off the main thread,
// e.g. withContext(Dispatchers.IO) { ... } or in a Worker.
package org.carnet.core

import java.io.File
import java.security.SecureRandom

/** Entry points of Carnet for an app. */
object Carnet {
    /** The database file inside the app's store directory. */
    const val DATABASE_FILE: String = "carnet.db"

    /** Size of a store key, in bytes. */
    const val KEY_BYTES: Int = 32

    /** A fresh random store key, to be wrapped by the Android Keystore (see docs/mobile.md). */
    fun newKey(): ByteArray = ByteArray(KEY_BYTES).also { SecureRandom().nextBytes(it) }

    /**
     * Opens (or creates) the encrypted store in [dir] with [key], then zeroes
     * [key]: the bytes now live only inside the library. Blocking.
     *
     * @throws CarnetException.WrongKey when the key does not open the existing store.
     * @throws CarnetException.InvalidInput when the key is not 32 bytes.
     */
    fun open(dir: File, key: ByteArray): CarnetStore =
        try {
            CarnetStore.open(File(dir, DATABASE_FILE).path, key)
        } finally {
            key.fill(0)
        }

    /**
     * The files of a store in [dir]: the database and its SQLite sidecars.
     * Exclude them from backups (they are encrypted with a key that never
     * leaves this device, so a restored copy could not be opened anyway).
     */
    fun storeFiles(dir: File): List<File> =
        listOf("", "-wal", "-shm", "-journal").map { File(dir, DATABASE_FILE + it) }
}

/**
 * Syncs with the team's server, reporting progress to [onProgress] (called on
 * this thread). Blocking, seconds on a weak connection: call it off the main
 * thread. [cancel] stops it between requests with [CarnetException.Cancelled].
 */
fun CarnetStore.syncBlocking(
    serverUrl: String,
    token: String,
    cancel: SyncCancel? = null,
    onProgress: (SyncState) -> Unit = {},
): SyncSummary = sync(serverUrl, token, LambdaSyncProgress(onProgress), cancel)

/**
 * Downloads the full image of photo [hash] of record [id] (a sync brings
 * thumbnails only), resuming what an earlier call left; then [CarnetStore.photoFull]
 * answers. Blocking, network: call it off the main thread. [onProgress] sees
 * phase [SyncPhase.PHOTOS] with the bytes.
 */
fun CarnetStore.fetchPhotoBlocking(
    serverUrl: String,
    token: String,
    id: String,
    hash: String,
    cancel: SyncCancel? = null,
    onProgress: (SyncState) -> Unit = {},
): SyncSummary = fetchPhoto(serverUrl, token, id, hash, LambdaSyncProgress(onProgress), cancel)

private class LambdaSyncProgress(private val callback: (SyncState) -> Unit) : SyncProgress {
    override fun onProgress(state: SyncState) = callback(state)
}

/** Id, author and times of any record. */
val Record.header: Header
    get() =
        when (this) {
            is Record.Note -> note.header
            is Record.Report -> report.header
            is Record.Contact -> contact.header
            is Record.Activity -> activity.header
        }

/** The record's id. */
val Record.id: String get() = header.id

/** The record's kind. */
val Record.kind: Kind
    get() =
        when (this) {
            is Record.Note -> Kind.NOTE
            is Record.Report -> Kind.REPORT
            is Record.Contact -> Kind.CONTACT
            is Record.Activity -> Kind.ACTIVITY
        }
