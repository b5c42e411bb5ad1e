// Photos from Swift: a PNG written by hand in the test (Linux has no image
// framework; the core takes PNG as it takes the camera's JPEG) attached to
// a report, listed, read back as a thumbnail and a full image (JPEG, whose
// dimensions are read from its frame header), synced through the real
// server to a second device (thumbnail at sync, full photo on demand), then
// removed and seen erased on the other device after its sync.
import Foundation

#if canImport(CarnetCore)
import CarnetCore
#endif

private let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
}

private func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

/// A `width`×`height` RGB PNG: its pixels in stored (uncompressed) deflate
/// blocks, which every PNG decoder reads.
func png(width: Int, height: Int) -> Data {
    var raw = [UInt8]()
    raw.reserveCapacity((width * 3 + 1) * height)
    for y in 0..<height {
        raw.append(0) // filter: none
        for x in 0..<width {
            raw.append(UInt8(x % 256)); raw.append(UInt8(y % 256)); raw.append(UInt8((x ^ y) % 256))
        }
    }
    var zlib: [UInt8] = [0x78, 0x01]
    var i = 0
    while i < raw.count {
        let n = min(65535, raw.count - i)
        zlib.append(i + n == raw.count ? 1 : 0)
        zlib += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(truncatingIfNeeded: ~n), UInt8(truncatingIfNeeded: ~n >> 8)]
        zlib += raw[i..<(i + n)]
        i += n
    }
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
    zlib += bigEndian((b << 16) | a)
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }
    let header = bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, 2, 0, 0, 0]
    let file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        + chunk("IHDR", header) + chunk("IDAT", zlib) + chunk("IEND", [])
    return Data(file)
}

/// Width and height of a JPEG, from its frame header (SOF0–SOF3).
func jpegSize(_ data: Data) -> (Int, Int)? {
    let b = [UInt8](data)
    var i = 2
    while i + 9 < b.count, b[i] == 0xFF {
        let marker = b[i + 1]
        if (0xC0...0xC3).contains(marker) {
            return ((Int(b[i + 7]) << 8) | Int(b[i + 8]), (Int(b[i + 5]) << 8) | Int(b[i + 6]))
        }
        i += 2 + ((Int(b[i + 2]) << 8) | Int(b[i + 3]))
    }
    return nil
}

/// Runs `block`, which must throw a `CarnetError` that `matches`.
func expectCarnetError(_ what: String, _ matches: (CarnetError) -> Bool, _ block: () throws -> Void) throws {
    do {
        try block()
    } catch let e as CarnetError {
        if matches(e) { return }
        throw Failure("\(what): unexpected \(e)")
    }
    throw Failure("\(what): nothing was thrown")
}

func newReport(_ s: CarnetStore) throws -> String {
    try s.createReport(report: NewReport(sector: "conte-joliot", category: "graffiti", place: "Bât. C", text: "Tags"))
}

func photoTests(scratch: URL, server: TestServer?) -> [(String, () throws -> Void)] {
    [
        ("photos: attach bytes and a file, list, read the thumbnail and the full image, remove", {
            let s = try CarnetStore.open(path: scratch.appendingPathComponent("photos.db").path, key: key(4, 32))
            let id = try newReport(s)
            let first = try s.attachPhoto(id: id, bytes: png(width: 2000, height: 1000))
            if (first.width, first.height) != (1600, 800) { throw Failure("resized to \(first.width)×\(first.height)") }
            let file = scratch.appendingPathComponent("camera.png")
            try png(width: 300, height: 400).write(to: file)
            let second = try s.attachPhotoFile(id: id, path: file.path)
            let listed = try s.photos(id: id)
            if listed.map({ $0.photo }) != [first, second] { throw Failure("listed \(listed)") }
            if !listed.allSatisfy({ $0.hasFull && $0.hasThumbnail && !$0.uploaded }) { throw Failure("held: \(listed)") }
            guard case let .report(r) = try s.get(id: id), r.photos.count == 2 else { throw Failure("the report does not name its photos") }
            let full = try s.photoFull(hash: first.hash)
            if UInt64(full.count) != first.size || jpegSize(full).map({ [$0.0, $0.1] }) != [1600, 800] {
                throw Failure("full image \(String(describing: jpegSize(full)))")
            }
            let thumb = try s.photoThumbnail(hash: first.hash)
            if jpegSize(thumb).map({ [$0.0, $0.1] }) != [320, 160] { throw Failure("thumbnail \(String(describing: jpegSize(thumb)))") }

            let contact = try s.createContact(contact: NewContact(name: "Mme Exemple"))
            try expectCarnetError("a contact's photo", { if case .PhotosNotAllowed(kind: .contact) = $0 { return true }; return false }) {
                _ = try s.attachPhoto(id: contact, bytes: png(width: 50, height: 50))
            }
            try expectCarnetError("not an image", { if case .NotAnImage = $0 { return true }; return false }) {
                _ = try s.attachPhoto(id: id, bytes: Data("pas une photo".utf8))
            }

            try s.removePhoto(id: id, hash: first.hash)
            if try s.photos(id: id).map({ $0.photo.hash }) != [second.hash] { throw Failure("after removal: \(try s.photos(id: id))") }
            try expectCarnetError("reading a removed photo", { if case .PhotoErased = $0 { return true }; return false }) {
                _ = try s.photoFull(hash: first.hash)
            }
        }),
        ("photos: synced to another device, thumbnail first, full on demand, erased after removal", {
            guard let srv = server else { throw Failure("no carnet-server (CARNET_TEST_SERVER is not set)") }
            func device(_ name: String) throws -> (CarnetStore, DeviceEnrollment) {
                let s = try CarnetStore.open(path: scratch.appendingPathComponent("\(name).db").path, key: key(5, 32))
                return (s, try s.enroll(serverUrl: srv.url, code: try srv.code("mediator"), deviceName: name))
            }
            let (amina, a) = try device("photo-amina")
            let (karim, k) = try device("photo-karim")
            let id = try newReport(amina)
            let photo = try amina.attachPhoto(id: id, bytes: png(width: 1200, height: 900))
            let states = Box<[SyncState]>([])
            let sent = try amina.syncBlocking(serverUrl: a.server, token: a.token) { states.value.append($0) }
            if sent.photosSent != 1 || sent.photoBytesSent != photo.size + photo.thumbSize { throw Failure("sent: \(sent)") }
            guard let last = states.value.last(where: { $0.phase == .photos }) else { throw Failure("no photos phase in \(states.value)") }
            if last.photosDone != 1 || last.photoBytesDone != last.photoBytesTotal { throw Failure("progress \(last)") }
            if try !amina.photos(id: id)[0].uploaded { throw Failure("not marked uploaded") }

            let got = try karim.syncBlocking(serverUrl: k.server, token: k.token)
            if got.thumbnailsReceived != 1 || got.photosReceived != 0 { throw Failure("received: \(got)") }
            let held = try karim.photos(id: id)
            guard held.count == 1, held[0].hasThumbnail, !held[0].hasFull else { throw Failure("karim holds \(held)") }
            if try karim.photoThumbnail(hash: photo.hash) != amina.photoThumbnail(hash: photo.hash) { throw Failure("thumbnails differ") }
            try expectCarnetError("full photo before fetching", { if case .PhotoNotDownloaded = $0 { return true }; return false }) {
                _ = try karim.photoFull(hash: photo.hash)
            }
            let fetched = try karim.fetchPhotoBlocking(serverUrl: k.server, token: k.token, id: id, hash: photo.hash)
            if fetched.photosReceived != 1 { throw Failure("fetched: \(fetched)") }
            if try karim.photoFull(hash: photo.hash) != amina.photoFull(hash: photo.hash) { throw Failure("full photos differ") }

            try amina.removePhoto(id: id, hash: photo.hash)
            _ = try amina.syncBlocking(serverUrl: a.server, token: a.token)
            _ = try karim.syncBlocking(serverUrl: k.server, token: k.token)
            if try !karim.photos(id: id).isEmpty { throw Failure("karim still lists \(try karim.photos(id: id))") }
            try expectCarnetError("the erased thumbnail", { if case .PhotoErased = $0 { return true }; return false }) {
                _ = try karim.photoThumbnail(hash: photo.hash)
            }
        }),
    ]
}
