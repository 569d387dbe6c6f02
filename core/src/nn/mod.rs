//! Neural-network building blocks (burn modules).

pub mod egnn;
pub mod neighbour_interp;
pub mod pos_enc;
