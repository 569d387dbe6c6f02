//! Neural-network building blocks (burn modules).

pub mod conv_block;
pub mod cpu_kernels;
pub mod egnn;
pub mod neighbour_interp;
pub mod pos_enc;
pub mod query_decoder;
pub mod unet;
