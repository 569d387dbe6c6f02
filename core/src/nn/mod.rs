//! Neural-network building blocks (burn modules).

pub mod egnn;
pub mod pos_enc;
