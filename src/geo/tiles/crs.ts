/** The tiles' CRS handling is the EPSG index's (every EPSG code); kept here for the tile code's imports. */
export { lonLatTransform, UnsupportedCrsError, type LonLatTransform } from '../crs/epsg';
