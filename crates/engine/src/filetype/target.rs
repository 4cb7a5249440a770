//! ClamAV's signature target types ([`Target`]).

/// A ClamAV signature target type: which objects a signature applies to (the `Target` field
/// of `.ndb` and `.ldb` signatures), by the type [`super::detect`] gives an object.
///
/// Its number (`Target::Pe as u8` is 1) is the signature's and indexes per-target tables
/// ([`Target::index`]); it is kept as that number in the compiled cache.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "u8", try_from = "u8")]
#[repr(u8)]
pub enum Target {
    /// 0: any file.
    #[default]
    Any = 0,
    /// 1: PE executable.
    Pe = 1,
    /// 2: OLE2 compound document.
    Ole2 = 2,
    /// 3: HTML (normalised).
    Html = 3,
    /// 4: mail.
    Mail = 4,
    /// 5: graphics.
    Graphics = 5,
    /// 6: ELF executable.
    Elf = 6,
    /// 7: ASCII text (normalised).
    Text = 7,
    /// 9: Mach-O executable.
    MachO = 9,
    /// 10: PDF.
    Pdf = 10,
    /// 11: Flash.
    Flash = 11,
    /// 12: Java class.
    Java = 12,
}

impl Target {
    /// Slots of a table indexed by [`Target::index`] (the largest number + 1; 8 is unused).
    pub const COUNT: usize = 13;

    /// Every target type, by number.
    pub const ALL: [Target; 12] = [
        Target::Any,
        Target::Pe,
        Target::Ole2,
        Target::Html,
        Target::Mail,
        Target::Graphics,
        Target::Elf,
        Target::Text,
        Target::MachO,
        Target::Pdf,
        Target::Flash,
        Target::Java,
    ];

    /// Its slot in a per-target table: its number.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl From<Target> for u8 {
    fn from(t: Target) -> u8 {
        t as u8
    }
}

/// A target number ClamAV does not define (8, or above 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown target type {0}")]
pub struct UnknownTarget(pub u8);

impl TryFrom<u8> for Target {
    type Error = UnknownTarget;

    fn try_from(n: u8) -> Result<Self, Self::Error> {
        Target::ALL
            .into_iter()
            .find(|t| u8::from(*t) == n)
            .ok_or(UnknownTarget(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_fit_the_slots() {
        for t in Target::ALL {
            assert_eq!(Target::try_from(u8::from(t)), Ok(t));
            assert!(t.index() < Target::COUNT);
        }
        assert_eq!(Target::try_from(8), Err(UnknownTarget(8)));
        assert_eq!(Target::try_from(13), Err(UnknownTarget(13)));
        assert_eq!(Target::default(), Target::Any);
    }

    /// The compiled cache keeps the number, as it did before the enum (one byte).
    #[test]
    fn serialised_as_its_number() {
        let b = postcard::to_allocvec(&Target::Java).expect("ser");
        assert_eq!(b, postcard::to_allocvec(&12u8).expect("ser"));
        assert_eq!(
            postcard::from_bytes::<Target>(&b).expect("de"),
            Target::Java
        );
        assert!(postcard::from_bytes::<Target>(&[8]).is_err());
    }
}
