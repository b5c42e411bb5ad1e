//! Photos of a report or a note, for the apps: attach the camera's bytes or
//! file, list them, read a thumbnail or the full image, remove one. The
//! core makes the stored photo (metadata stripped, upright, resized,
//! thumbnail) and keeps it in the encrypted store; fetching a full photo
//! from the server is in [`crate::sync`], beside the sync.

use carnet_core::photo::{self, PhotoHash, Variant};

use crate::CarnetStore;
use crate::error::{CarnetError, Result};
use crate::store::record_id;

/// A photo as a record references it: its hashes, sizes and dimensions,
/// never anything of what it shows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PhotoRef {
    /// SHA-256 of the full image (64 hex digits): the photo's name in every
    /// photo call.
    pub hash: String,
    /// SHA-256 of the thumbnail.
    pub thumb: String,
    /// Bytes of the full image (JPEG).
    pub size: u64,
    /// Bytes of the thumbnail (JPEG).
    pub thumb_size: u64,
    /// Pixels, upright and resized: lay the image out before it is read.
    pub width: u32,
    /// Pixels, upright and resized.
    pub height: u32,
    /// When it was attached (the order photos show in).
    pub added_at: i64,
}

impl From<photo::PhotoRef> for PhotoRef {
    fn from(p: photo::PhotoRef) -> Self {
        PhotoRef {
            hash: p.hash.to_hex(),
            thumb: p.thumb.to_hex(),
            size: p.size,
            thumb_size: p.thumb_size,
            width: p.width,
            height: p.height,
            added_at: p.added_at,
        }
    }
}

/// The references of a record's document, for the records' own `photos`.
pub(crate) fn refs(v: Vec<photo::PhotoRef>) -> Vec<PhotoRef> {
    v.into_iter().map(Into::into).collect()
}

/// A record's photo and what this device holds of it: what a gallery shows
/// (a thumbnail, or a placeholder until the next sync brings it).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PhotoInfo {
    /// The reference.
    pub photo: PhotoRef,
    /// Whether [`CarnetStore::photo_thumbnail`] can answer now.
    pub has_thumbnail: bool,
    /// Whether [`CarnetStore::photo_full`] can answer now; otherwise
    /// [`CarnetStore::fetch_photo`] downloads it.
    pub has_full: bool,
    /// Whether the server has it (sent from here, or received from it).
    pub uploaded: bool,
}

impl From<photo::PhotoInfo> for PhotoInfo {
    fn from(p: photo::PhotoInfo) -> Self {
        PhotoInfo {
            photo: p.photo.into(),
            has_thumbnail: p.has_thumbnail,
            has_full: p.has_full,
            uploaded: p.uploaded,
        }
    }
}

/// What a team allows for photos and how they are made (part of
/// [`crate::TeamConfig`], set by the server).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PhotoSettings {
    /// Longest side of a stored photo, pixels.
    pub max_side: u32,
    /// Longest side of a thumbnail, pixels.
    pub thumb_side: u32,
    /// JPEG quality of a stored photo (1–100).
    pub quality: u8,
    /// Largest camera file accepted, bytes.
    pub max_input_bytes: u64,
    /// Largest stored photo, bytes.
    pub max_photo_bytes: u64,
    /// Photos per record.
    pub max_per_record: u32,
    /// Photo bytes a device may hold waiting for upload.
    pub max_pending_bytes: u64,
    /// Whether a sync downloads every full photo rather than thumbnails only.
    pub download_full: bool,
}

impl From<photo::PhotoSettings> for PhotoSettings {
    fn from(s: photo::PhotoSettings) -> Self {
        PhotoSettings {
            max_side: s.max_side,
            thumb_side: s.thumb_side,
            quality: s.quality,
            max_input_bytes: s.max_input_bytes,
            max_photo_bytes: s.max_photo_bytes,
            max_per_record: s.max_per_record,
            max_pending_bytes: s.max_pending_bytes,
            download_full: s.download_full,
        }
    }
}

impl From<PhotoSettings> for photo::PhotoSettings {
    fn from(s: PhotoSettings) -> Self {
        photo::PhotoSettings {
            max_side: s.max_side,
            thumb_side: s.thumb_side,
            quality: s.quality,
            max_input_bytes: s.max_input_bytes,
            max_photo_bytes: s.max_photo_bytes,
            max_per_record: s.max_per_record,
            max_pending_bytes: s.max_pending_bytes,
            download_full: s.download_full,
        }
    }
}

/// A photo's hash as the apps pass it (64 hex digits).
pub(crate) fn hash(s: &str) -> Result<PhotoHash> {
    Ok(PhotoHash::parse(s)?)
}

#[uniffi::export]
impl CarnetStore {
    /// Attaches a photo to a report or a note from the camera's bytes (JPEG
    /// or PNG; convert HEIC to JPEG first, as the OS offers). Its metadata
    /// (EXIF, GPS) is stripped, it is turned upright, resized to the team's
    /// size and given a thumbnail, then stored encrypted with the record's
    /// change, durably, offline. Resizing a 12-megapixel photo takes a
    /// noticeable moment: **off the main thread**. Throws `PhotosNotAllowed`,
    /// `PhotoTooLarge`, `TooManyPhotos`, `PendingPhotosFull` (sync first),
    /// `NotAnImage`, `PhotoErased`; nothing is written then.
    pub fn attach_photo(&self, id: String, bytes: Vec<u8>) -> Result<PhotoRef> {
        Ok(self.inner.attach_photo(record_id(&id)?, &bytes)?.into())
    }

    /// [`CarnetStore::attach_photo`] from a file (the camera's output file
    /// or a picked one): its size is checked before it is read, so a huge
    /// file never enters memory.
    /// A file that cannot be read throws `InvalidInput` (field `path`).
    pub fn attach_photo_file(&self, id: String, path: String) -> Result<PhotoRef> {
        let path = std::path::Path::new(&path);
        // Said here: the core's own message for a missing file would read
        // like a failure of the store.
        if let Err(e) = std::fs::metadata(path) {
            return Err(CarnetError::InvalidInput {
                field: "path".into(),
                reason: format!("the photo file cannot be read ({e})"),
            });
        }
        Ok(self.inner.attach_photo_file(record_id(&id)?, path)?.into())
    }

    /// Removes a photo from its record and erases it (a face or a number
    /// plate caught by mistake): its bytes leave this device now, and the
    /// server and every other device at their next sync; it can never be
    /// attached again.
    pub fn remove_photo(&self, id: String, hash: String) -> Result<()> {
        Ok(self
            .inner
            .remove_photo(record_id(&id)?, self::hash(&hash)?)?)
    }

    /// A record's photos, oldest first, with what this device holds of each.
    pub fn photos(&self, id: String) -> Result<Vec<PhotoInfo>> {
        Ok(self
            .inner
            .photos(record_id(&id)?)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A photo's thumbnail (JPEG bytes), for lists and galleries.
    /// `PhotoNotDownloaded` until a sync brings it.
    pub fn photo_thumbnail(&self, hash: String) -> Result<Vec<u8>> {
        Ok(self.inner.photo(self::hash(&hash)?, Variant::Thumb)?)
    }

    /// A photo's full image (JPEG bytes). `PhotoNotDownloaded` when only the
    /// thumbnail is here: call [`CarnetStore::fetch_photo`], then this again.
    pub fn photo_full(&self, hash: String) -> Result<Vec<u8>> {
        Ok(self.inner.photo(self::hash(&hash)?, Variant::Full)?)
    }
}
