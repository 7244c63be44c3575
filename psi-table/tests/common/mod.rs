pub mod febrl;
