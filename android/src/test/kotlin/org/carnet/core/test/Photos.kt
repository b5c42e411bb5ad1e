// Photos from Kotlin: a JPEG made in the test (java.awt + ImageIO, as a
// camera would hand it over) attached to a report, listed, read back as a
// thumbnail and a full image, synced through the real server to a second
// device (thumbnail at sync, full photo on demand), then removed and seen
// erased on the other device after its sync.
package org.carnet.core.test

import java.awt.image.BufferedImage
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.File
import javax.imageio.ImageIO
import org.carnet.core.*

/** A [w]×[h] JPEG (a pattern, so that it compresses like a photo). */
fun jpeg(w: Int, h: Int): ByteArray {
    val img = BufferedImage(w, h, BufferedImage.TYPE_INT_RGB)
    for (x in 0 until w) for (y in 0 until h) {
        img.setRGB(x, y, ((x % 256) shl 16) or ((y % 256) shl 8) or ((x xor y) and 0xff))
    }
    val out = ByteArrayOutputStream()
    if (!ImageIO.write(img, "jpg", out)) fail("this JVM has no JPEG writer")
    return out.toByteArray()
}

/** Width and height of image bytes. */
fun dimensions(bytes: ByteArray): Pair<Int, Int> {
    val img = ImageIO.read(ByteArrayInputStream(bytes)) ?: fail("not an image")
    return img.width to img.height
}

fun newReport(s: CarnetStore): String =
    s.createReport(NewReport(sector = "conte-joliot", category = "graffiti", place = "Bât. C", text = "Tags"))

fun photoTests(scratch: File, server: TestServer?): Map<String, () -> Unit> = linkedMapOf<String, () -> Unit>(
    "photos: attach bytes and a file, list, read the thumbnail and the full image, remove" to {
        val s = CarnetStore.open(File(scratch, "photos.db").path, key(4, 32))
        val id = newReport(s)
        val first = s.attachPhoto(id, jpeg(2000, 1500))
        if (first.width != 1600u || first.height != 1200u) fail("resized to ${first.width}×${first.height}")
        val file = File(scratch, "camera.jpg").also { it.writeBytes(jpeg(300, 400)) }
        val second = s.attachPhotoFile(id, file.path)
        val listed = s.photos(id)
        if (listed.map { it.photo } != listOf(first, second)) fail("listed $listed")
        if (!listed.all { it.hasFull && it.hasThumbnail && !it.uploaded }) fail("held: $listed")
        if ((s.get(id) as Record.Report).report.photos.size != 2) fail("the report does not name its photos")
        val full = s.photoFull(first.hash)
        if (full.size.toULong() != first.size || dimensions(full) != 1600 to 1200) fail("full image ${dimensions(full)}")
        val thumb = s.photoThumbnail(first.hash)
        if (dimensions(thumb) != 320 to 240) fail("thumbnail ${dimensions(thumb)}")

        val contact = s.createContact(NewContact(name = "Mme Exemple"))
        val refused = expectThrows<CarnetException.PhotosNotAllowed>("a contact's photo") { s.attachPhoto(contact, jpeg(50, 50)) }
        if (refused.kind != Kind.CONTACT) fail("refused for ${refused.kind}")
        expectThrows<CarnetException.NotAnImage>("not an image") { s.attachPhoto(id, "pas une photo".toByteArray()) }

        s.removePhoto(id, first.hash)
        if (s.photos(id).map { it.photo.hash } != listOf(second.hash)) fail("after removal: ${s.photos(id)}")
        expectThrows<CarnetException.PhotoErased>("reading a removed photo") { s.photoFull(first.hash) }
        expectThrows<CarnetException.PhotoErased>("attaching it again") { s.attachPhoto(id, jpeg(2000, 1500)) }
        s.close()
    },
    "photos: synced to another device, thumbnail first, full on demand, erased after removal" to {
        val srv = server ?: fail("no carnet-server (CARNET_TEST_SERVER is not set)")
        fun device(name: String): Pair<CarnetStore, DeviceEnrollment> {
            val s = CarnetStore.open(File(scratch, "$name.db").path, key(5, 32))
            return s to s.enroll(srv.url, srv.code("mediator"), name)
        }
        val (amina, a) = device("photo-amina")
        val (karim, k) = device("photo-karim")
        val id = newReport(amina)
        val photo = amina.attachPhoto(id, jpeg(1200, 900))
        val states = mutableListOf<SyncState>()
        val sent = amina.syncBlocking(a.server, a.token) { states += it }
        if (sent.photosSent != 1uL || sent.photoBytesSent != photo.size + photo.thumbSize) fail("sent: $sent")
        val last = states.lastOrNull { it.phase == SyncPhase.PHOTOS } ?: fail("no PHOTOS phase in $states")
        if (last.photosDone != 1uL || last.photoBytesDone != last.photoBytesTotal) fail("progress $last")
        if (!amina.photos(id)[0].uploaded) fail("not marked uploaded")

        val got = karim.syncBlocking(k.server, k.token)
        if (got.thumbnailsReceived != 1uL || got.photosReceived != 0uL) fail("received: $got")
        val info = karim.photos(id).singleOrNull() ?: fail("karim sees ${karim.photos(id)}")
        if (!info.hasThumbnail || info.hasFull) fail("karim holds $info")
        if (!karim.photoThumbnail(photo.hash).contentEquals(amina.photoThumbnail(photo.hash))) fail("thumbnails differ")
        expectThrows<CarnetException.PhotoNotDownloaded>("full photo before fetching") { karim.photoFull(photo.hash) }
        val fetched = karim.fetchPhotoBlocking(k.server, k.token, id, photo.hash)
        if (fetched.photosReceived != 1uL) fail("fetched: $fetched")
        if (!karim.photoFull(photo.hash).contentEquals(amina.photoFull(photo.hash))) fail("full photos differ")

        amina.removePhoto(id, photo.hash)
        amina.syncBlocking(a.server, a.token)
        karim.syncBlocking(k.server, k.token)
        if (karim.photos(id).isNotEmpty()) fail("karim still lists ${karim.photos(id)}")
        expectThrows<CarnetException.PhotoErased>("the erased thumbnail") { karim.photoThumbnail(photo.hash) }
        amina.close()
        karim.close()
    },
)
