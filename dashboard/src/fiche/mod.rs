//! The fiche de signalement: the one A4 page a supervisor sends the body
//! responsible for a dégradation (a landlord, a city service), who never
//! uses Carnet. In French: who sends it and how to reach them, a reference
//! to quote back, what and where, how urgent, when it was reported, where
//! it stands, and the photos, as large as the page allows.
//!
//! Written with `pdf-writer` (see `docs/photos.md`, "La fiche de
//! signalement (PDF)"): text in the base-14 Helvetica fonts, encoded in
//! WinAnsiEncoding (`text`), so nothing is embedded but the photos, whose
//! JPEG bytes go into the file as stored (`jpeg`), never decoded nor
//! re-encoded on the server.

mod jpeg;
mod metrics;
mod text;

pub(crate) use jpeg::Jpeg;

use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use text::{Font, encode, wrap};

/// A4, in points.
const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 42.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Room kept at the bottom for the lines about photos left out and the
/// footer, whether they are written or not, so that the room for photos
/// is known before the photos are fetched.
const NOTES_H: f32 = 26.0;
const FOOTER_H: f32 = 22.0;
/// The most photos a fiche shows, and the smallest a photo may be drawn
/// (points): below that a landlord's technician could not tell what it is.
pub(crate) const MAX_PHOTOS: usize = 6;
const MIN_PHOTO_W: f32 = 150.0;
const MIN_PHOTO_H: f32 = 110.0;
const GAP: f32 = 8.0;
const CAPTION_H: f32 = 12.0;

type Rgb = (f32, f32, f32);
const INK: Rgb = (0.11, 0.15, 0.2);
const MUTED: Rgb = (0.36, 0.4, 0.46);
const BLUE: Rgb = (0.12, 0.31, 0.47);
const RED: Rgb = (0.75, 0.22, 0.17);

/// What a fiche says, already in French and formatted by the caller (labels
/// from the team's configuration, dates in Europe/Paris).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fiche {
    /// The team's name.
    pub team: String,
    /// How to reach the team (lines), when the operator set it.
    pub contact: Option<String>,
    /// The reference to quote back.
    pub reference: String,
    /// The record's full id, in the footer.
    pub record_id: String,
    /// The category's label.
    pub category: String,
    /// The precise place.
    pub place: String,
    /// The sector's label.
    pub sector: String,
    /// The quartier's label (may be empty).
    pub quartier: String,
    /// Danger to people.
    pub urgent: bool,
    /// When it was reported.
    pub reported_at: String,
    /// Its current status.
    pub status: String,
    /// The body it was forwarded to, when and under which of its
    /// references; `None` if not forwarded.
    pub forwarded: Option<String>,
    /// What the mediator wrote.
    pub description: String,
    /// When and by whom the fiche was made.
    pub edited: String,
    /// The report's photos, counted.
    pub photos: PhotoCounts,
}

/// The report's photos, as far as the fiche is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PhotoCounts {
    /// Every photo the report has.
    pub total: usize,
    /// Not uploaded by the mediator's phone yet.
    pub not_received: usize,
    /// Held by the server in a form the fiche cannot embed.
    pub unreadable: usize,
}

/// Writes into one content stream, from the top of the page down.
struct Pen<'a> {
    c: &'a mut Content,
    /// Distance from the top of the page, points.
    y: f32,
}

impl Pen<'_> {
    /// One line of text whose top is at `top` (from the top of the page).
    fn line(&mut self, x: f32, top: f32, font: Font, size: f32, color: Rgb, text: &[u8]) {
        let name = match font {
            Font::Regular => Name(b"F1"),
            Font::Bold => Name(b"F2"),
        };
        self.c.set_fill_rgb(color.0, color.1, color.2);
        self.c.begin_text();
        self.c.set_font(name, size);
        self.c.next_line(x, PAGE_H - top - size * 0.8);
        self.c.show(Str(text));
        self.c.end_text();
    }

    /// Lines from the pen's position down, `leading` apart.
    fn lines(
        &mut self,
        x: f32,
        font: Font,
        size: f32,
        leading: f32,
        color: Rgb,
        lines: &[Vec<u8>],
    ) {
        for l in lines {
            let top = self.y;
            self.line(x, top, font, size, color, l);
            self.y += leading;
        }
    }

    /// A thin horizontal rule across the page at the pen's position.
    fn rule(&mut self) {
        self.c.set_stroke_rgb(0.8, 0.83, 0.87);
        self.c.set_line_width(0.7);
        self.c.move_to(MARGIN, PAGE_H - self.y);
        self.c.line_to(PAGE_W - MARGIN, PAGE_H - self.y);
        self.c.stroke();
    }
}

impl Fiche {
    /// Writes everything but the photos and the footer; returns where the
    /// photos may start (from the top of the page).
    fn draw_text(&self, c: &mut Content) -> f32 {
        let mut p = Pen { c, y: MARGIN };

        // The reference, top right.
        let ref_label = encode("RÉFÉRENCE À RAPPELER");
        let reference = encode(&self.reference);
        let right = |font: Font, size: f32, t: &[u8]| PAGE_W - MARGIN - font.width(t, size);
        p.line(
            right(Font::Bold, 7.5, &ref_label),
            MARGIN,
            Font::Bold,
            7.5,
            MUTED,
            &ref_label,
        );
        p.line(
            right(Font::Bold, 15.0, &reference),
            MARGIN + 11.0,
            Font::Bold,
            15.0,
            INK,
            &reference,
        );
        let right_bottom = MARGIN + 30.0;

        // Who sends it, top left, beside the reference.
        let left_w = CONTENT_W - 190.0;
        let (team, _) = wrap(&self.team, Font::Bold, 12.0, left_w, 2);
        p.lines(MARGIN, Font::Bold, 12.0, 15.0, BLUE, &team);
        if let Some(contact) = self.contact.as_deref().filter(|c| !c.trim().is_empty()) {
            let (lines, _) = wrap(contact, Font::Regular, 9.0, left_w, 4);
            p.lines(MARGIN, Font::Regular, 9.0, 11.5, INK, &lines);
        }
        p.y = p.y.max(right_bottom) + 8.0;
        p.rule();
        p.y += 14.0;

        p.line(
            MARGIN,
            p.y,
            Font::Bold,
            20.0,
            BLUE,
            &encode("Fiche de signalement"),
        );
        p.y += 26.0;
        let sub = encode(
            "Dégradation constatée sur le terrain par l'équipe de médiation, transmise pour intervention.",
        );
        p.line(MARGIN, p.y, Font::Regular, 9.5, MUTED, &sub);
        p.y += 22.0;

        // The facts, label and value side by side.
        let label_w = 118.0;
        let value_w = CONTENT_W - label_w;
        let urgency = if self.urgent {
            "OUI — danger pour les personnes"
        } else {
            "Non"
        };
        let forwarded = self.forwarded.as_deref().unwrap_or("(pas encore transmis)");
        let quartier = if self.quartier.trim().is_empty() {
            "(non renseigné)"
        } else {
            &self.quartier
        };
        let rows: [(&str, &str, usize); 8] = [
            ("Catégorie", &self.category, 2),
            ("Lieu", &self.place, 3),
            ("Secteur", &self.sector, 1),
            ("Quartier", quartier, 1),
            ("Urgence", urgency, 1),
            ("Signalé le", &self.reported_at, 1),
            ("Statut actuel", &self.status, 1),
            ("Transmis à", forwarded, 2),
        ];
        for (label, value, max_lines) in rows {
            let (font, color) = if label == "Urgence" && self.urgent {
                (Font::Bold, RED)
            } else {
                (Font::Regular, INK)
            };
            let top = p.y;
            p.line(MARGIN, top + 1.0, Font::Bold, 9.0, MUTED, &encode(label));
            let (lines, _) = wrap(value, font, 10.5, value_w, max_lines);
            let lines = if lines.is_empty() {
                vec![encode("—")]
            } else {
                lines
            };
            p.lines(MARGIN + label_w, font, 10.5, 13.5, color, &lines);
            p.y += 3.0;
        }

        p.y += 8.0;
        p.line(MARGIN, p.y, Font::Bold, 11.0, BLUE, &encode("Description"));
        p.y += 17.0;
        let (lines, _) = wrap(&self.description, Font::Regular, 10.5, CONTENT_W, 12);
        if lines.is_empty() {
            p.lines(
                MARGIN,
                Font::Regular,
                10.5,
                14.0,
                MUTED,
                &[encode("(aucune description)")],
            );
        } else {
            p.lines(MARGIN, Font::Regular, 10.5, 14.0, INK, &lines);
        }

        p.y += 10.0;
        p.line(MARGIN, p.y, Font::Bold, 11.0, BLUE, &encode("Photos"));
        p.y + 18.0
    }

    /// Where photos go: from `top` down to above the notes and footer.
    fn photo_area_height(top: f32) -> f32 {
        (PAGE_H - MARGIN - FOOTER_H - NOTES_H - top).max(0.0)
    }

    /// How many photos this fiche has room for (at most [`MAX_PHOTOS`]):
    /// the caller fetches that many and no more.
    pub fn photo_capacity(&self) -> usize {
        let top = self.draw_text(&mut Content::new());
        let h = Self::photo_area_height(top);
        let rows = ((h + GAP) / (MIN_PHOTO_H + CAPTION_H + GAP))
            .floor()
            .max(0.0) as usize;
        let cols = ((CONTENT_W + GAP) / (MIN_PHOTO_W + GAP)).floor().max(0.0) as usize;
        (rows * cols).min(MAX_PHOTOS)
    }

    /// The lines under the photos that say which are missing and why.
    fn photo_notes(&self, shown: usize) -> Vec<String> {
        let c = self.photos;
        let plural = |n: usize| if n > 1 { "s" } else { "" };
        let mut notes = Vec::new();
        if c.total == 0 {
            notes.push("Aucune photo n'est jointe à ce signalement.".to_string());
        }
        if c.not_received > 0 {
            let n = c.not_received;
            notes.push(format!(
                "{n} photo{s} pas encore reçue{s} par le serveur (le téléphone du médiateur ne l'a pas encore envoyée).",
                s = plural(n)
            ));
        }
        if c.unreadable > 0 {
            let n = c.unreadable;
            notes.push(format!(
                "{n} photo{s} illisible{s}, non reproduite{s}.",
                s = plural(n)
            ));
        }
        let left_out = c
            .total
            .saturating_sub(shown + c.not_received + c.unreadable);
        if left_out > 0 {
            let n = left_out;
            notes.push(format!(
                "{n} autre{s} photo{s} non reproduite{s} faute de place : demandez-la{s} à l'équipe.",
                s = plural(n)
            ));
        }
        notes
    }

    /// The fiche as a PDF file: one A4 page, `photos` (at most
    /// [`Fiche::photo_capacity`]; any beyond are left out) in a grid as
    /// large as the room left allows.
    pub fn render(&self, photos: &[Jpeg]) -> Vec<u8> {
        let mut c = Content::new();
        let top = self.draw_text(&mut c);
        let photos = &photos[..photos.len().min(self.photo_capacity())];
        let area_h = Self::photo_area_height(top);
        let mut bottom = top;
        if let Some((cols, cell_w, cell_h)) = grid(photos, area_h) {
            for (i, photo) in photos.iter().enumerate() {
                let (col, row) = (i % cols, i / cols);
                let x0 = MARGIN + col as f32 * (cell_w + GAP);
                let y0 = top + row as f32 * (cell_h + CAPTION_H + GAP);
                let (w, h) = fit(photo, cell_w, cell_h);
                let x = x0 + (cell_w - w) / 2.0;
                c.save_state();
                c.transform([w, 0.0, 0.0, h, x, PAGE_H - y0 - h]);
                c.x_object(Name(format!("Im{}", i + 1).as_bytes()));
                c.restore_state();
                let caption = encode(&format!("Photo {}", i + 1));
                let mut p = Pen { c: &mut c, y: 0.0 };
                p.line(x, y0 + h + 2.0, Font::Regular, 8.0, MUTED, &caption);
                bottom = bottom.max(y0 + h + CAPTION_H);
            }
        }
        let mut p = Pen {
            c: &mut c,
            y: bottom,
        };
        for note in self.photo_notes(photos.len()) {
            let (lines, _) = wrap(&note, Font::Regular, 9.0, CONTENT_W, 1);
            p.lines(MARGIN, Font::Regular, 9.0, 12.0, MUTED, &lines);
        }
        p.y = PAGE_H - MARGIN - FOOTER_H + 6.0;
        p.rule();
        p.y += 5.0;
        let footer = format!(
            "Fiche éditée {}, avec Carnet. Identifiant du signalement : {}.",
            self.edited, self.record_id
        );
        let (lines, _) = wrap(&footer, Font::Regular, 7.5, CONTENT_W, 1);
        p.lines(MARGIN, Font::Regular, 7.5, 9.0, MUTED, &lines);
        self.assemble(c, photos)
    }

    /// The file's objects: catalogue, page, fonts, photos, content.
    fn assemble(&self, content: Content, photos: &[Jpeg]) -> Vec<u8> {
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let page = Ref::new(3);
        let regular = Ref::new(4);
        let bold = Ref::new(5);
        let content_id = Ref::new(6);
        let info = Ref::new(7);
        let image = |i: usize| Ref::new(8 + i as i32);
        let names: Vec<String> = (1..=photos.len()).map(|i| format!("Im{i}")).collect();

        let mut pdf = Pdf::new();
        pdf.catalog(catalog).pages(tree).lang(TextStr("fr"));
        pdf.pages(tree).kids([page]).count(1);
        let mut pg = pdf.page(page);
        pg.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        pg.parent(tree);
        pg.contents(content_id);
        let mut resources = pg.resources();
        resources
            .fonts()
            .pair(Name(b"F1"), regular)
            .pair(Name(b"F2"), bold);
        let mut x_objects = resources.x_objects();
        for (i, name) in names.iter().enumerate() {
            x_objects.pair(Name(name.as_bytes()), image(i));
        }
        x_objects.finish();
        resources.finish();
        pg.finish();

        for (id, base, table) in [
            (regular, &b"Helvetica"[..], &metrics::HELVETICA),
            (bold, &b"Helvetica-Bold"[..], &metrics::HELVETICA_BOLD),
        ] {
            pdf.type1_font(id)
                .base_font(Name(base))
                .encoding_predefined(Name(b"WinAnsiEncoding"))
                .first_char(32)
                .last_char(255)
                .widths(table.iter().map(|&w| f32::from(w)));
        }
        for (i, photo) in photos.iter().enumerate() {
            let mut im = pdf.image_xobject(image(i), &photo.bytes);
            im.filter(Filter::DctDecode);
            im.width(photo.width as i32);
            im.height(photo.height as i32);
            if photo.gray {
                im.color_space().device_gray();
            } else {
                im.color_space().device_rgb();
            }
            im.bits_per_component(8);
        }
        pdf.stream(content_id, &content.finish());
        pdf.document_info(info)
            .title(TextStr(&format!("Fiche de signalement {}", self.reference)))
            .creator(TextStr("Carnet"));
        pdf.finish()
    }
}

/// `photo`'s size when drawn as large as fits a `w`×`h` cell, its
/// proportions kept.
fn fit(photo: &Jpeg, w: f32, h: f32) -> (f32, f32) {
    let (pw, ph) = (photo.width.max(1) as f32, photo.height.max(1) as f32);
    let scale = (w / pw).min(h / ph);
    (pw * scale, ph * scale)
}

/// The grid that draws `photos` largest in a `CONTENT_W`×`h` area: its
/// columns and the cell size (the caption's room excluded); `None` when
/// there is nothing to draw or no room.
fn grid(photos: &[Jpeg], h: f32) -> Option<(usize, f32, f32)> {
    let n = photos.len();
    let mut best: Option<(f32, (usize, f32, f32))> = None;
    for cols in 1..=n.min(3) {
        let rows = n.div_ceil(cols);
        let cell_w = (CONTENT_W - (cols - 1) as f32 * GAP) / cols as f32;
        let cell_h = (h - (rows - 1) as f32 * GAP) / rows as f32 - CAPTION_H;
        if cell_w < MIN_PHOTO_W || cell_h < MIN_PHOTO_H {
            continue;
        }
        // The smallest photo drawn is what a reader struggles with.
        let smallest = photos
            .iter()
            .map(|p| {
                let (w, h) = fit(p, cell_w, cell_h);
                w * h
            })
            .fold(f32::INFINITY, f32::min);
        if best.is_none_or(|(s, _)| smallest > s) {
            best = Some((smallest, (cols, cell_w, cell_h)));
        }
    }
    best.map(|(_, g)| g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(w: u32, h: u32) -> Jpeg {
        Jpeg {
            bytes: vec![],
            width: w,
            height: h,
            gray: false,
        }
    }

    #[test]
    fn room_for_photos_shrinks_with_a_long_description_but_stays() {
        let short = Fiche::default();
        let long = Fiche {
            description: "Très long texte. ".repeat(400),
            place: "Un lieu très long ".repeat(40),
            contact: Some("Ligne de contact\n".repeat(10)),
            ..Fiche::default()
        };
        assert_eq!(short.photo_capacity(), MAX_PHOTOS);
        let n = long.photo_capacity();
        assert!((1..=MAX_PHOTOS).contains(&n), "{n}");
    }

    #[test]
    fn the_grid_keeps_every_photo_large_enough_and_inside_the_page() {
        for n in 1..=MAX_PHOTOS {
            let photos: Vec<Jpeg> = (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        photo(1600, 1200)
                    } else {
                        photo(900, 1600)
                    }
                })
                .collect();
            let (cols, w, h) = grid(&photos, 420.0).unwrap();
            let rows = n.div_ceil(cols);
            assert!(w >= MIN_PHOTO_W && h >= MIN_PHOTO_H, "{n}: {w}×{h}");
            assert!(cols as f32 * w + (cols - 1) as f32 * GAP <= CONTENT_W + 0.01);
            assert!(rows as f32 * (h + CAPTION_H) + (rows - 1) as f32 * GAP <= 420.01);
        }
        assert_eq!(grid(&[], 420.0), None);
        assert_eq!(grid(&[photo(10, 10)], 50.0), None);
        // One landscape photo takes the whole width.
        assert_eq!(grid(&[photo(1600, 1200)], 420.0).map(|g| g.0), Some(1));
    }

    #[test]
    fn notes_say_which_photos_are_missing() {
        let mut f = Fiche::default();
        assert_eq!(
            f.photo_notes(0),
            ["Aucune photo n'est jointe à ce signalement."]
        );
        f.photos = PhotoCounts {
            total: 9,
            not_received: 1,
            unreadable: 0,
        };
        let notes = f.photo_notes(6);
        assert!(
            notes[0].starts_with("1 photo pas encore reçue par"),
            "{notes:?}"
        );
        assert!(
            notes[1].starts_with("2 autres photos non reproduites"),
            "{notes:?}"
        );
    }
}
